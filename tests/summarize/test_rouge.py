"""ROUGE of summaries against references (summarize/rouge.py)."""

import pytest

from sentvae.summarize.rouge import rouge


def test_rouge_of_a_summary_against_itself_is_100():
    text = "The tacos were great and the staff was friendly."
    assert rouge(text, [text]) == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}
    assert rouge(text, [text, "nothing in common here"])["rouge1"] == pytest.approx(50.0)

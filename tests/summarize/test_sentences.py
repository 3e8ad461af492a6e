"""Sentence splitting of raw reviews, and model tokens back to readable text (summarize/sentences.py)."""

import pytest

from sentvae.summarize.sentences import detokenize, sentence_case, split_sentences


def test_split_sentences_handles_abbreviations_exclamations_quotes_and_line_breaks():
    text = ('Dr. Lee was great, e.g. the tacos at 5 p.m. were $5.99. WOW!!! we will be back. '
            '"Best ever!" she said. Mr. J. Smith agreed... the end?!\n\nNo. 5 was fine.Service slow')
    assert split_sentences(text) == [
        "Dr. Lee was great, e.g. the tacos at 5 p.m. were $5.99.", "WOW!!!", "we will be back.",
        '"Best ever!" she said.', "Mr. J. Smith agreed... the end?!", "No. 5 was fine.",
        "Service slow"]


@pytest.mark.parametrize("empty", ["", "   ", "\n\n", "!!!", " ... :) "])
def test_empty_reviews_give_no_sentences(empty):
    assert split_sentences(empty) == []


def test_detokenize_and_sentence_case_make_readable_text():
    assert detokenize("i did n't like the `` special '' , $ 5 ( really ) .") == \
        "i didn't like the \"special\", $5 (really)."
    assert detokenize("we ca n't wait ... it 's great !") == "we can't wait... it's great!"
    assert sentence_case("i think kfc is great, i'm sure.", {"kfc": "KFC"}) == "I think KFC is great, I'm sure."

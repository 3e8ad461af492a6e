"""Content-word overlap with the input, the reranking score (summarize/overlap.py)."""

import pytest

from sentvae.summarize.overlap import content_tokens, input_overlap, mean_overlap, ngram_counts


def test_overlap_counts_words_not_punctuation():
    assert content_tokens(["Great", ",", "food", "!", "_num_", "<unk>"]) == ["great", "food", "_num_"]
    assert input_overlap(["great", "food", "."], ["great", "food", "!"]) == pytest.approx(1.0)


def test_bigram_overlap_rewards_word_order_that_unigrams_ignore():
    inputs = "the staff is friendly and the food is great".split()
    same_words, same_order = "is great the food and the staff is friendly".split(), inputs[:]
    assert input_overlap(same_words, inputs) == input_overlap(same_order, inputs) == pytest.approx(1.0)
    # 6 of the 8 bigrams of the reordered text are in the input: bigram F1 6/8, mean (1 + 6/8) / 2
    assert input_overlap(same_words, inputs, order=2) == pytest.approx((1 + 6 / 8) / 2)
    assert input_overlap(same_order, inputs, order=2) == pytest.approx(1.0)
    assert ngram_counts(["Great", ",", "food", "!"], 2)[1] == {("great", "food"): 1}  # punctuation dropped first


def test_overlap_with_each_text_rewards_what_the_texts_share():
    texts = ["the tacos were great".split(), "the tacos were cold".split(), "parking was hard".split()]
    shared, single = "the tacos were".split(), "parking was hard".split()
    # each text: F1 of 3 matches = 6/7, 6/7, 0 -> 4/7; "parking was hard" matches only the third text
    assert mean_overlap(shared, texts) == pytest.approx((6 / 7 + 6 / 7 + 0) / 3)
    assert mean_overlap(single, texts) == pytest.approx(1 / 3)
    assert mean_overlap(shared, texts) > mean_overlap(single, texts)
    everything = [[t for text in texts for t in text]]  # all texts as one: both have 3 matches
    assert mean_overlap(shared, everything) == pytest.approx(mean_overlap(single, everything))

"""The summarisation methods on a tiny model: one summary per group, budgets, reranking, order,
numbers (summarize/summarizer.py)."""

import pytest
from review_groups import review_groups

from sentvae.errors import ArgumentError
from sentvae.summarize.overlap import mean_overlap
from sentvae.summarize.sentences import count_words, split_sentences
from sentvae.summarize.groups import Group
from sentvae.summarize.summarizer import METHODS, SummaryOptions, summarize, summarize_group
from sentvae.summarize.tokens import group_sentences
from sentvae.text import NUMBER_TOKEN


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_one_nonempty_summary_per_group(trained_vae, method):
    groups = review_groups()
    summaries = summarize(trained_vae, groups, SummaryOptions(method=method, length=15))
    assert [s.group_id for s in summaries] == [g.id for g in groups]
    assert all(s.text.strip() and s.sentences and s.message is None for s in summaries)
    if method == "mean":
        assert all(len(s.sentences) == 1 for s in summaries)


def test_medoid_returns_only_input_sentences(trained_vae):
    for group in review_groups():
        inputs = {s for text in group.texts for s in split_sentences(text)}
        summary = summarize_group(trained_vae, group, SummaryOptions(method="medoid", length=25))
        assert summary.sentences and all(s["text"] in inputs for s in summary.sentences)
        assert len({s["text"] for s in summary.sentences}) == len(summary.sentences)


@pytest.mark.parametrize("method,length", [("cluster", 12), ("cluster", 20), ("medoid", 20),
                                           ("medoid", 40)])
def test_length_budget_is_met_within_one_sentence(trained_vae, method, length):
    groups = review_groups(reviews=6)
    # the built-in corpus has a tiny vocabulary: at the default threshold most decodes of a tiny
    # model count as near-duplicates and the material runs out (tested below)
    options = SummaryOptions(method=method, length=length, duplicate=0.9, order="size")  # output = selection order
    for summary in summarize(trained_vae, groups, options):
        words = count_words(summary.text)
        last = count_words(summary.sentences[-1]["text"])
        assert words >= length, summary.text  # the groups have far more than `length` words
        assert words - last < length, summary.text  # the last sentence is the one that crossed it


def test_a_budget_beyond_the_input_stops_when_every_sentence_is_a_cluster(trained_vae):
    group = review_groups(n_groups=1, reviews=2, sentences_per_review=2)[0]
    summary = summarize_group(trained_vae, group, SummaryOptions(method="cluster", length=500))
    assert summary.text and summary.scores["k"] == summary.scores["input_sentences"] == 4
    assert count_words(summary.text) < 500


def test_reranking_never_keeps_a_candidate_with_lower_input_overlap(trained_vae):
    replaced = 0
    for group in review_groups(n_groups=4, reviews=6, seed=3):
        options = SummaryOptions(length=25, rerank=True, n_best=4, order="size")  # output = selection order
        summary = summarize_group(trained_vae, group, options)
        texts = [[t for s in split_sentences(text) for t in trained_vae.tokenizer.tokens(s)]
                 for text in group.texts]
        inputs = [[t for text in texts for t in text]]  # the whole input as one text
        context = []
        for sentence in summary.sentences:
            tokens = sentence["tokens"].split()
            assert sentence["overlap"] == pytest.approx(mean_overlap(context + tokens, inputs), abs=1e-4)
            if "replaced" in sentence:
                replaced += 1
                old = sentence["replaced"]
                assert old["overlap"] == pytest.approx(
                    mean_overlap(context + old["tokens"].split(), inputs), abs=1e-4)
                assert sentence["overlap"] >= old["overlap"]
            context += tokens
    assert replaced > 0, "reranking never changed a sentence: the property above was not exercised"


def test_position_order_keeps_the_sentences_and_sorts_them_as_the_reviews_do(trained_vae):
    moved = 0
    for group in review_groups(n_groups=3, reviews=6, seed=5):
        by_size = summarize_group(trained_vae, group, SummaryOptions(length=30, order="size"))
        by_position = summarize_group(trained_vae, group, SummaryOptions(length=30, order="position"))
        assert sorted(s["text"] for s in by_size.sentences) == sorted(s["text"] for s in by_position.sentences)
        sizes = [s["cluster_size"] for s in by_size.sentences]
        positions = [s["position"] for s in by_position.sentences]
        assert sizes == sorted(sizes, reverse=True) and positions == sorted(positions)
        assert all(0 <= p <= 1 for p in positions)
        moved += by_size.text != by_position.text
    assert moved > 0, "the two orders never differed: the property above was not exercised"
    with pytest.raises(ArgumentError, match="unknown order"):
        SummaryOptions(order="alphabetical")


def test_a_group_with_no_readable_word_gets_a_message(trained_vae):
    summary = summarize_group(trained_vae, Group("u", ["_ __ _"]), SummaryOptions())
    assert summary.text == "" and "no words the model can read" in summary.message


def test_avoid_numbers_never_chooses_a_sentence_with_the_number_placeholder(trained_vae):
    from sentvae.summarize.summarizer import _Candidate, _GroupSummarizer

    group = review_groups(n_groups=1, reviews=4)[0]
    words = group_sentences(group, trained_vae.tokenizer)[0].tokens
    with_number = _Candidate(words + [NUMBER_TOKEN], "beam-1")  # overlaps the input most
    without = _Candidate(words[:1], "subset")
    for avoid in (False, True):
        summarizer = _GroupSummarizer(trained_vae, group, SummaryOptions(avoid_numbers=avoid))
        choice = summarizer._choose([with_number, without], kept=[])
        assert choice["candidate"] is (without if avoid else with_number)
        alone = summarizer._choose([with_number], kept=[])
        assert (alone is None) if avoid else (alone["candidate"] is with_number)
    readable = _GroupSummarizer(trained_vae, group, SummaryOptions()).readable(with_number.tokens)
    assert NUMBER_TOKEN not in readable  # allowed numbers are written as one of the group's own

"""Summaries through the latent space: sentence splitting, normalisation, methods, reranking,
input files and their problems, ROUGE, and the benchmark run end to end on a tiny slice."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from sentvae.errors import ArgumentError, DataError
from sentvae.summarize import (METHODS, Group, SummaryOptions, content_tokens, group_sentences, input_overlap,
                               kmeans, mean_overlap, ngram_counts, parse_columns, read_groups, rouge, summarize,
                               summarize_group)
from sentvae.textnorm import NUMBER_TOKEN, count_words, detokenize, sentence_case, split_sentences
from sentvae.tokenizer import TextTokenizer

ROOT = Path(__file__).resolve().parent.parent


# --- sentence splitting and normalisation --------------------------------------------------------

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


@pytest.fixture(scope="module")
def yelp_style_tokenizer():
    """A tokenizer trained like configs/yelp.yaml on a few PTB-tokenised review sentences."""
    corpus = ["i did n't like it .", "it 's great , we 'll be back !", "$ _num_ for the `` special '' .",
              "they ca n't cook ... sad ?", "i 'm gon na say it was n't good ."] * 3
    return TextTokenizer.train(corpus, kind="word", lowercase=True, split_punctuation=True)


def test_raw_reviews_are_normalised_like_the_ptb_tokenised_corpus(yelp_style_tokenizer, tmp_path):
    yelp_style_tokenizer.save(tmp_path / "tokenizer.json")
    tok = TextTokenizer.load(tmp_path / "tokenizer.json")  # the normalisation travels in the file
    assert tok.tokens("I didn't like it.") == ["i", "did", "n't", "like", "it", "."]
    assert tok.tokens("It’s great, we'll be back!!!") == ["it", "'s", "great", ",", "we", "'ll", "be", "back", "!"]
    assert tok.tokens('$10.99 for the "special".') == ["$", "_num_", "for", "the", "``", "special", "''", "."]
    assert tok.tokens("They can't cook.... Sad?!") == ["they", "ca", "n't", "cook", "...", "sad", "?"]
    assert tok.tokens("I'm gonna say it wasn't good") == ["i", "'m", "gon", "na", "say", "it", "was", "n't", "good"]
    # already tokenised text is left as it is
    assert tok.tokens("i did n't like the `` special '' , $ _num_ .") == \
        "i did n't like the `` special '' , $ _num_ .".split()


def test_a_whitespace_tokenizer_gets_the_same_tokens_through_the_python_fallback(yelp_style_tokenizer):
    from sentvae.summarize import normaliser, splits_punctuation

    corpus = ["i did n't like it .", "it 's great , we 'll be back !", "$ _num_ for the `` special '' .",
              "they ca n't cook ... sad ?", "i 'm gon na say it was n't good ."] * 3
    plain = TextTokenizer.train(corpus, kind="word", lowercase=True)
    assert splits_punctuation(yelp_style_tokenizer) and not splits_punctuation(plain)
    raw = ["I didn't like it!!!", 'It’s "great"... $10 for the special?!', "Gonna say they can't cook."]
    for text in raw:
        assert normaliser(plain)(text) == normaliser(yelp_style_tokenizer)(text)
    assert normaliser(plain)("I didn't pay $5.") == ["i", "did", "n't", "<unk>", "$", "_num_", "."]


def test_numbers_stay_unless_the_corpus_uses_a_placeholder():
    tok = TextTokenizer.train(["we paid $ 10 .", "it 's 9:00 ."], kind="word", lowercase=True,
                              split_punctuation=True)
    assert tok.tokens("We paid $10.") == ["we", "paid", "$", "10", "."]


def test_detokenize_and_sentence_case_make_readable_text():
    assert detokenize("i did n't like the `` special '' , $ 5 ( really ) .") == \
        "i didn't like the \"special\", $5 (really)."
    assert detokenize("we ca n't wait ... it 's great !") == "we can't wait... it's great!"
    assert sentence_case("i think kfc is great, i'm sure.", {"kfc": "KFC"}) == "I think KFC is great, I'm sure."


# --- methods on a tiny model ------------------------------------------------------------------------

def _groups(n_groups=3, reviews=4, sentences_per_review=3, seed=11):
    from sentvae.corpus import splits

    texts = [s.text for s in splits(train=n_groups * reviews * sentences_per_review, valid=1, test=1,
                                    seed=seed)["train"]]
    groups, i = [], 0
    for g in range(n_groups):
        group = Group(id=f"g{g}", texts=[])
        for _ in range(reviews):
            group.texts.append(" ".join(texts[i: i + sentences_per_review]))
            i += sentences_per_review
        group.references = [group.texts[0]]
        groups.append(group)
    return groups


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_one_nonempty_summary_per_group(trained_model, method):
    groups = _groups()
    summaries = summarize(trained_model, groups, SummaryOptions(method=method, length=15))
    assert [s.group_id for s in summaries] == [g.id for g in groups]
    assert all(s.text.strip() and s.sentences and s.message is None for s in summaries)
    if method == "mean":
        assert all(len(s.sentences) == 1 for s in summaries)


def test_medoid_returns_only_input_sentences(trained_model):
    for group in _groups():
        inputs = {s for text in group.texts for s in split_sentences(text)}
        summary = summarize_group(trained_model, group, SummaryOptions(method="medoid", length=25))
        assert summary.sentences and all(s["text"] in inputs for s in summary.sentences)
        assert len({s["text"] for s in summary.sentences}) == len(summary.sentences)


@pytest.mark.parametrize("method,length", [("cluster", 12), ("cluster", 20), ("medoid", 20),
                                           ("medoid", 40)])
def test_length_budget_is_met_within_one_sentence(trained_model, method, length):
    groups = _groups(reviews=6)
    # the built-in corpus has a tiny vocabulary: at the default threshold most decodes of a tiny
    # model count as near-duplicates and the material runs out (tested below)
    options = SummaryOptions(method=method, length=length, duplicate=0.9, order="size")  # output = selection order
    for summary in summarize(trained_model, groups, options):
        words = count_words(summary.text)
        last = count_words(summary.sentences[-1]["text"])
        assert words >= length, summary.text  # the groups have far more than `length` words
        assert words - last < length, summary.text  # the last sentence is the one that crossed it


def test_a_budget_beyond_the_input_stops_when_every_sentence_is_a_cluster(trained_model):
    group = _groups(n_groups=1, reviews=2, sentences_per_review=2)[0]
    summary = summarize_group(trained_model, group, SummaryOptions(method="cluster", length=500))
    assert summary.text and summary.scores["k"] == summary.scores["input_sentences"] == 4
    assert count_words(summary.text) < 500


@pytest.mark.parametrize("order, per_text", [(1, False), (2, False), (1, True), (2, True)])
def test_reranking_never_keeps_a_candidate_with_lower_input_overlap(trained_model, order, per_text):
    replaced = 0
    for group in _groups(n_groups=4, reviews=6, seed=3):
        options = SummaryOptions(length=25, rerank=True, n_best=4, overlap_order=order,
                                 overlap_per_text=per_text, order="size")  # output = selection order
        summary = summarize_group(trained_model, group, options)
        texts = [[t for s in split_sentences(text) for t in trained_model.tokenizer.tokens(s)]
                 for text in group.texts]
        inputs = texts if per_text else [[t for text in texts for t in text]]
        context = []
        for sentence in summary.sentences:
            tokens = sentence["tokens"].split()
            assert sentence["overlap"] == pytest.approx(mean_overlap(context + tokens, inputs, order), abs=1e-4)
            if "replaced" in sentence:
                replaced += 1
                old = sentence["replaced"]
                assert old["overlap"] == pytest.approx(
                    mean_overlap(context + old["tokens"].split(), inputs, order), abs=1e-4)
                assert sentence["overlap"] >= old["overlap"]
            context += tokens
    assert replaced > 0, "reranking never changed a sentence: the property above was not exercised"


def test_position_order_keeps_the_sentences_and_sorts_them_as_the_reviews_do(trained_model):
    moved = 0
    for group in _groups(n_groups=3, reviews=6, seed=5):
        by_size = summarize_group(trained_model, group, SummaryOptions(length=30, order="size"))
        by_position = summarize_group(trained_model, group, SummaryOptions(length=30, order="position"))
        assert sorted(s["text"] for s in by_size.sentences) == sorted(s["text"] for s in by_position.sentences)
        sizes = [s["cluster_size"] for s in by_size.sentences]
        positions = [s["position"] for s in by_position.sentences]
        assert sizes == sorted(sizes, reverse=True) and positions == sorted(positions)
        assert all(0 <= p <= 1 for p in positions)
        moved += by_size.text != by_position.text
    assert moved > 0, "the two orders never differed: the property above was not exercised"
    with pytest.raises(ArgumentError, match="unknown order"):
        SummaryOptions(order="alphabetical")


def test_kmeans_is_seeded_and_finds_separated_clusters():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(20, 2, generator=generator) for c in centres])
    found, labels = kmeans(x, 3, seed=1)
    again, labels_again = kmeans(x, 3, seed=1)
    assert torch.equal(found, again) and torch.equal(labels, labels_again)
    assert all(len(set(labels[i * 20:(i + 1) * 20].tolist())) == 1 for i in range(3))
    assert torch.cdist(centres, found).min(dim=1).values.max() < 0.2
    points, own = kmeans(x[:4], 9)
    assert torch.equal(points, x[:4]) and own.tolist() == [0, 1, 2, 3]


def test_rouge_of_a_summary_against_itself_is_100():
    text = "The tacos were great and the staff was friendly."
    assert rouge(text, [text]) == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}
    assert rouge(text, [text, "nothing in common here"])["rouge1"] == pytest.approx(50.0)


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


# --- input files and their problems ---------------------------------------------------------------------

def test_read_groups_from_tsv_csv_and_jsonl(tmp_path):
    (tmp_path / "g.tsv").write_text("group_id\trev1\trev2\tsumm1\nA\tGood food.\tBad service.\tOk.\n")
    (tmp_path / "g.csv").write_text('Input.business_id,Input.original_review_0,Input.original_review_0_id,'
                                    'Answer.summary\nB,"Line one.\n\nLine ""two"".",x1,"Sum."\n')
    (tmp_path / "g.jsonl").write_text('{"topic": "C", "sentences": ["a b .", "c d ."], "gold": ["e"]}\n')
    (tmp_path / "rows.tsv").write_text("g\ttext\nX\tOne.\nY\tTwo.\nX\tThree.\n")
    [tsv] = read_groups(tmp_path / "g.tsv", references="summ1")
    assert (tsv.id, tsv.texts, tsv.references) == ("A", ["Good food.", "Bad service."], ["Ok."])
    [csv_group] = read_groups(tmp_path / "g.csv", references="Answer.summary")
    assert csv_group.id == "B" and csv_group.texts == ['Line one.\n\nLine "two".']
    [jsonl] = read_groups(tmp_path / "g.jsonl", group_column="topic", columns="sentences", references="gold")
    assert (jsonl.id, jsonl.texts, jsonl.references) == ("C", ["a b .", "c d ."], ["e"])
    rows = read_groups(tmp_path / "rows.tsv", group_column="g", text_column="text")
    assert [(g.id, g.texts) for g in rows] == [("X", ["One.", "Three."]), ("Y", ["Two."])]
    assert parse_columns("rev1..rev3,summ1") == ["rev1", "rev2", "rev3", "summ1"]
    with pytest.raises(DataError, match="no column 'rev3'"):
        read_groups(tmp_path / "g.tsv", columns="rev1..rev9")


def test_problem_groups_get_a_clear_message_not_a_crash(trained_model, tmp_path):
    good = " ".join(s for g in _groups(1) for s in g.texts)
    path = tmp_path / "groups.tsv"
    path.write_bytes(b"group_id\trev1\trev2\n"
                     + f"ok\t{good}\t{good}\n".encode()
                     + b"single\tthe pretty cats dance .\t\n"
                     + b"empty\t\t   \n"
                     + b"bytes\tthe cats \xff dance .\tgood\n")
    groups = read_groups(path)
    summaries = summarize(trained_model, groups, SummaryOptions(length=10))
    by_id = {s.group_id: s for s in summaries}
    assert by_id["ok"].text and by_id["ok"].message is None
    assert by_id["single"].text and "only one sentence" in by_id["single"].message
    assert by_id["empty"].text == "" and "no text" in by_id["empty"].message
    assert by_id["bytes"].text == "" and "not valid UTF-8" in by_id["bytes"].message
    assert f"{path}:5" in by_id["bytes"].message  # names the file and line


def test_a_group_with_no_readable_word_gets_a_message(trained_model):
    summary = summarize_group(trained_model, Group("u", ["_ __ _"]), SummaryOptions())
    assert summary.text == "" and "no words the model can read" in summary.message


def test_cli_summarize_reads_stdin_and_writes_json(trained_run, tmp_path, capsys, monkeypatch):
    import io
    import sys

    from sentvae.cli import main

    text = " ".join(_groups(1)[0].texts)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    out = tmp_path / "out.json"
    assert main(["summarize", "-m", str(trained_run), "--length", "12", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    record = json.loads(out.read_text())
    assert len(printed) == 1 and printed[0] == record["summaries"][0]["text"] != ""
    assert record["method"] == "cluster" and record["summaries"][0]["scores"]["words"] >= 12

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe not text")))
    assert main(["summarize", "-m", str(trained_run)]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err


# --- the benchmark, end to end on a tiny slice ------------------------------------------------------------

def _load_benchmark():
    spec = importlib.util.spec_from_file_location("summarize_benchmark", ROOT / "benchmarks" / "summarize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lexrank_ranks_the_central_sentence_first():
    bench = _load_benchmark()
    sentences = ["the pizza crust was great", "great pizza and great crust here", "the crust of the pizza",
                 "parking seemed hard"]
    scores, similarity = bench.lexrank_scores(sentences)
    assert scores.sum() == pytest.approx(1.0)
    assert int(scores.argmax()) in (0, 1, 2) and int(scores.argmin()) == 3
    assert similarity[3, :3].max() == 0.0


def test_benchmark_runs_end_to_end_on_a_tiny_slice(trained_run, tmp_path):
    import csv

    bench = _load_benchmark()
    groups = _groups(n_groups=6, reviews=3, sentences_per_review=2, seed=21)
    data = tmp_path / "opinion_summ"
    for folder in ("fewsum_yelp", "meansum_yelp", "opinosis"):
        (data / folder).mkdir(parents=True)
    for name, part in (("train", groups[:1]), ("val", groups[1:2])):
        lines = ["cat\tgroup_id\t" + "\t".join(f"rev{i}" for i in range(1, 9)) + "\tsumm1\tsumm2\tsumm3"]
        for g in part:
            reviews = (g.texts * 3)[:8]
            lines.append("business\t" + g.id + "\t" + "\t".join(reviews) + "\t" + "\t".join([g.texts[0]] * 3))
        (data / "fewsum_yelp" / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    with (data / "meansum_yelp" / "summaries_0-200_cleaned.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Input.business_id"] + [f"Input.original_review_{i}" for i in range(8)] + ["Answer.summary"])
        for g in groups[2:6]:
            writer.writerow([g.id] + (g.texts * 3)[:8] + [g.texts[1]])
    with (data / "opinosis" / "opinosis.jsonl").open("w") as handle:
        for g in groups[:2]:
            sentences = [s for t in g.texts for s in split_sentences(t)]
            handle.write(json.dumps({"topic": g.id, "sentences": sentences, "gold_summaries": g.texts[:2]}) + "\n")
    out = tmp_path / "results"
    assert bench.main(["-m", str(trained_run), "--data", str(data), "--out", str(out), "--grid", "small",
                       "--meansum-split", "2", "--yelp-length", "12"]) == 0
    result = json.loads((out / "summarize.json").read_text())
    assert result["groups"] == {"dev": 4, "meansum_test": 2, "meansum_all": 4, "opinosis": 2}
    for name in ("meansum_test", "opinosis"):
        systems = result["results"][name]
        assert {"random", "clustroid", "lexrank"} <= set(systems) and any(s.startswith("vae") for s in systems)
        assert all(0 <= scores["rouge1"] <= 100 for scores in systems.values())
    # the best is then tried in review order, with bigrams blocked, and avoiding numbers
    later_trials = 3 if result["chosen"]["method"] != "mean" else 0
    assert [t["options"]["order"] for t in result["tuning"][:6]] == ["size"] * 6
    assert len(result["tuning"]) == 6 + later_trials and "goal" in result and len(result["examples"]) == 2
    if later_trials:
        blocked, avoided = result["tuning"][7]["options"], result["tuning"][8]["options"]
        assert blocked["no_repeat_ngram"] == 2 and not blocked["avoid_numbers"]
        assert avoided["avoid_numbers"]
    assert [(t["options"]["overlap_per_text"], t["options"]["overlap_order"])
            for t in result["tuning"][:3]] == [(True, 1), (True, 2), (False, 1)]
    assert "| lexrank |" in (out / "summarize.md").read_text()


def test_avoid_numbers_never_chooses_a_sentence_with_the_number_placeholder(trained_model):
    from sentvae.summarize import _Candidate, _GroupSummarizer

    group = _groups(n_groups=1, reviews=4)[0]
    words = group_sentences(group, trained_model.tokenizer)[0].tokens
    with_number = _Candidate(words + [NUMBER_TOKEN], "beam-1")  # overlaps the input most
    without = _Candidate(words[:1], "subset")
    for avoid in (False, True):
        summarizer = _GroupSummarizer(trained_model, group, SummaryOptions(avoid_numbers=avoid))
        choice = summarizer._choose([with_number, without], kept=[])
        assert choice["candidate"] is (without if avoid else with_number)
        alone = summarizer._choose([with_number], kept=[])
        assert (alone is None) if avoid else (alone["candidate"] is with_number)
    readable = _GroupSummarizer(trained_model, group, SummaryOptions()).readable(with_number.tokens)
    assert NUMBER_TOKEN not in readable  # allowed numbers are written as one of the group's own

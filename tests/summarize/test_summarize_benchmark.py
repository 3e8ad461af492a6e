"""benchmarks/summarize.py: LexRank, and the benchmark run end to end on a tiny slice."""

import importlib.util
import json
from pathlib import Path

import pytest
from review_groups import review_groups

from sentvae.summarize.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[2]


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
    groups = review_groups(n_groups=6, reviews=3, sentences_per_review=2, seed=21)
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
    assert [t["options"]["order"] for t in result["tuning"][:4]] == ["size"] * 4
    assert len(result["tuning"]) == 4 + later_trials and "goal" in result and len(result["examples"]) == 2
    if later_trials:
        blocked, avoided = result["tuning"][5]["options"], result["tuning"][6]["options"]
        assert blocked["no_repeat_ngram"] == 2 and not blocked["avoid_numbers"]
        assert avoided["avoid_numbers"]
    assert [(t["options"]["method"], t["options"]["rerank"]) for t in result["tuning"][:4]] == \
        [("cluster", True), ("cluster", False), ("medoid", True), ("mean", True)]
    assert "| lexrank |" in (out / "summarize.md").read_text()

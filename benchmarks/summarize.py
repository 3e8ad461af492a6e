"""Opinion summarisation benchmark: a sentence VAE against extractive baselines, same groups.

    python benchmarks/summarize.py -m runs/yelp --data ../shared/data/opinion_summ
    python benchmarks/summarize.py --baselines-only --data ../shared/data/opinion_summ

Data (see opinion_summ/README.md): FewSum Yelp train/val and MeanSum rows 0-99 are the dev
(tuning) groups; MeanSum rows 100-199 and Opinosis (all references) are reported. Protocol
(Copycat, Brazinskas et al. 2020): ROUGE-1/2/L F1 of rouge-score with Porter stemming, averaged
over a group's references, then over groups; corpus BLEU and chrF of sacrebleu (lower-cased,
all references of a group). Baselines, computed in the same run on the same groups:

    random     one random input review (Opinosis: random input sentences up to the budget)
    clustroid  the input review with the highest mean ROUGE-1 F1 against the group's other reviews
    lexrank    continuous LexRank (Erkan & Radev 2004) over the input sentences: TF-IDF cosine
               similarities, PageRank by power iteration (damping 0.85); sentences by rank, those
               too similar (cosine > 0.5) to a chosen one skipped, until the length budget

The model's options (method and reranking; with --grid full also the budget and clause splitting)
are chosen on the dev groups by R1 + R2 + RL; every system has the same budget: the mean length
of the dev human summaries for Yelp, of the human summaries for Opinosis (no dev split). Writes
<out>/summarize.json and <out>/summarize.md (tables and three example groups).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from sentvae.summarize import Group, SummaryOptions, corpus_scores, read_groups, summarize
from sentvae.summarize.sentences import count_words, split_sentences

GOAL = {"rouge1": 29.1, "rouge2": 5.4, "rougeL": 17.8}  # MeanSum rows 100-199 (issue 4)
METRICS = ("rouge1", "rouge2", "rougeL", "bleu", "chrf")


# --- data ---------------------------------------------------------------------------------------

def load_sets(data: Path, meansum_split: int = 100) -> dict[str, list[Group]]:
    """The benchmark's groups: dev (tuning) and the reported sets."""
    fewsum = [g for name in ("train", "val")
              for g in read_groups(data / "fewsum_yelp" / f"{name}.tsv", columns="rev1..rev8",
                                   references="summ1..summ3")]
    meansum = read_groups(data / "meansum_yelp" / "summaries_0-200_cleaned.csv",
                          group_column="Input.business_id",
                          columns="Input.original_review_0..7", references="Answer.summary")
    opinosis = read_groups(data / "opinosis" / "opinosis.jsonl", group_column="topic",
                           columns="sentences", references="gold_summaries")
    return {"dev": fewsum + meansum[:meansum_split], "meansum_test": meansum[meansum_split:],
            "meansum_all": meansum, "opinosis": opinosis}


def mean_reference_words(groups: list[Group]) -> int:
    return round(statistics.mean(count_words(r) for g in groups for r in g.references))


# --- baselines ----------------------------------------------------------------------------------

def _rouge_tokens():
    from rouge_score.tokenizers import DefaultTokenizer

    tokenizer = DefaultTokenizer(use_stemmer=True)
    return lambda text: Counter(tokenizer.tokenize(text))


def _f1(a: Counter, b: Counter) -> float:
    matched = sum((a & b).values())
    if not matched:
        return 0.0
    p, r = matched / sum(a.values()), matched / sum(b.values())
    return 2 * p * r / (p + r)


def random_baseline(group: Group, seed: int, budget: int, by_sentence: bool) -> str:
    """One random input review; for sentence groups, random sentences up to the budget."""
    rng = random.Random(seed)
    if not by_sentence:
        return rng.choice(group.texts)
    order = list(group.texts)
    rng.shuffle(order)
    return _up_to_budget(order, budget)


def clustroid_baseline(group: Group, bag) -> str:
    """The input text with the highest mean ROUGE-1 F1 against the group's other texts."""
    bags = [bag(t) for t in group.texts]

    def centrality(i: int) -> float:
        others = [_f1(bags[i], bags[j]) for j in range(len(bags)) if j != i]
        return sum(others) / len(others) if others else 0.0

    return group.texts[max(range(len(bags)), key=centrality)]


_WORDS = re.compile(r"[a-z0-9]+")


def lexrank_scores(sentences: list[str], damping: float = 0.85, tolerance: float = 1e-8,
                   max_iterations: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Continuous LexRank: sentences -> (scores (N,), cosine similarities (N, N))."""
    counts = [Counter(_WORDS.findall(s.lower())) for s in sentences]
    vocabulary = {w: i for i, w in enumerate(sorted({w for c in counts for w in c}))}
    tf = np.zeros((len(sentences), max(1, len(vocabulary))))
    for row, c in enumerate(counts):
        for word, count in c.items():
            tf[row, vocabulary[word]] = count
    document_frequency = (tf > 0).sum(axis=0)
    idf = np.log(len(sentences) / np.maximum(document_frequency, 1))
    vectors = tf * idf  # (N, V)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    similarity = unit @ unit.T  # (N, N)
    n = len(sentences)
    np.fill_diagonal(similarity, 0.0)  # centrality comes from the other sentences only
    rows = similarity.sum(axis=1, keepdims=True)
    transition = np.divide(similarity, rows, out=np.full_like(similarity, 1.0 / n), where=rows > 0)
    scores = np.full(n, 1.0 / n)
    for _ in range(max_iterations):
        updated = (1 - damping) / n + damping * transition.T @ scores
        if np.abs(updated - scores).sum() < tolerance:
            scores = updated
            break
        scores = updated
    return scores, similarity


def lexrank_baseline(group: Group, budget: int, redundancy: float = 0.5) -> str:
    sentences = [s for t in group.texts for s in split_sentences(t)]
    scores, similarity = lexrank_scores(sentences)
    chosen: list[int] = []
    words = 0
    for i in np.argsort(-scores, kind="stable"):
        if any(similarity[i, j] > redundancy for j in chosen):
            continue
        chosen.append(int(i))
        words += count_words(sentences[i])
        if words >= budget:
            break
    return " ".join(sentences[i] for i in chosen)


def _up_to_budget(texts: list[str], budget: int) -> str:
    kept, words = [], 0
    for text in texts:
        kept.append(text)
        words += count_words(text)
        if words >= budget:
            break
    return " ".join(kept)


def run_baselines(groups: list[Group], budget: int, by_sentence: bool, seed: int = 0) -> dict:
    bag = _rouge_tokens()
    outputs = {
        "random": [random_baseline(g, seed + i, budget, by_sentence) for i, g in enumerate(groups)],
        "clustroid": [clustroid_baseline(g, bag) for g in groups],
        "lexrank": [lexrank_baseline(g, budget) for g in groups],
    }
    return {name: (corpus_scores(texts, [g.references for g in groups]), texts)
            for name, texts in outputs.items()}


# --- the model ----------------------------------------------------------------------------------

def run_model(model, groups: list[Group], options: SummaryOptions) -> tuple[dict, list[str]]:
    texts = [s.text for s in summarize(model, groups, options)]
    return corpus_scores(texts, [g.references for g in groups]), texts


def _rouge_sum(scores: dict) -> float:
    return scores["rouge1"] + scores["rouge2"] + scores["rougeL"]


def tune(model, dev: list[Group], base: SummaryOptions, grid: str, echo) -> tuple[SummaryOptions, list]:
    """Pick options on the dev groups by R1 + R2 + RL. `small`: cluster with and without
    reranking, medoid and mean, at the base budget, numbers allowed; then, one after the other on
    the best so far: the order of the reviews instead of cluster size, repeated bigrams blocked
    instead of trigrams, sentences with numbers avoided.
    `full`: then, for the best, budgets 10 words shorter and longer, and clause splitting of input
    sentences over 20 tokens.
    Returns the best options and every trial, in order."""
    trials = []

    def trial(options: SummaryOptions) -> float:
        start = time.time()
        scores, _ = run_model(model, dev, options)
        trials.append({"options": _describe(options), "dev": _rounded(scores),
                       "seconds": round(time.time() - start, 1)})
        echo(f"  dev {_describe(options)}: R1 {scores['rouge1']:.2f} R2 {scores['rouge2']:.2f} "
             f"RL {scores['rougeL']:.2f} ({time.time() - start:.0f} s)")
        return _rouge_sum(scores)

    if grid == "none":
        return base, trials
    base = replace(base, order="size", avoid_numbers=False)  # these two are tried last, on the best
    variants = [replace(base, rerank=True), replace(base, rerank=False), replace(base, method="medoid"),
                replace(base, method="mean")]
    scores = [trial(options) for options in variants]
    best_score = max(scores)
    best = variants[scores.index(best_score)]
    if best.method != "mean":  # then the output order: by cluster size, or as in the reviews
        options = replace(best, order="position")
        score = trial(options)
        if score > best_score:
            best, best_score = options, score
    if best.method != "mean":  # then, one after the other, on the best so far:
        for change in (lambda o: replace(o, strategy=replace(o.strategy, no_repeat_ngram=2)),  # block bigrams
                       lambda o: replace(o, avoid_numbers=True)):  # no sentences with a number
            options = change(best)
            score = trial(options)
            if score > best_score:
                best, best_score = options, score
    if grid == "full" and best.method != "mean":
        for options in (replace(best, length=best.length - 10), replace(best, length=best.length + 10),
                        replace(best, max_sentence_tokens=20)):
            score = trial(options)
            if score > best_score:
                best, best_score = options, score
    return best, trials


def _describe(options: SummaryOptions) -> dict:
    keys = ("method", "length", "rerank", "order", "n_best", "subsets", "max_sentence_tokens", "duplicate",
            "avoid_numbers")
    return {**{k: getattr(options, k) for k in keys}, "no_repeat_ngram": options.strategy.no_repeat_ngram}


def _rounded(scores: dict) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in scores.items()}


# --- report -------------------------------------------------------------------------------------

def markdown(result: dict) -> str:
    lines = ["# Opinion summarisation (benchmarks/summarize.py)", "",
             f"Model: `{result.get('model') or '(baselines only)'}`. Length budgets (words): "
             f"Yelp {result['budgets']['yelp']}, Opinosis {result['budgets']['opinosis']}.", ""]
    titles = {"meansum_test": "MeanSum Yelp, rows 100-199 (test)",
              "meansum_all": "MeanSum Yelp, all 200 rows (rows 0-99 are also the model's dev groups)",
              "opinosis": "Opinosis (51 topics, all references)"}
    for name, systems in result["results"].items():
        lines += [f"## {titles.get(name, name)}", "", "| system | ROUGE-1 | ROUGE-2 | ROUGE-L | BLEU | chrF |",
                  "|---|---:|---:|---:|---:|---:|"]
        for system, scores in systems.items():
            lines.append(f"| {system} | " + " | ".join(f"{scores[m]:.2f}" for m in METRICS) + " |")
        lines.append("")
    if result.get("tuning"):
        lines += ["## Tuning on the dev groups (FewSum train + val, MeanSum rows 0-99)", "",
                  "| method | rerank by overlap with | order | no-repeat n-gram | numbers | budget | clause split "
                  "| ROUGE-1 | ROUGE-2 | ROUGE-L |",
                  "|---|---|---|---:|---|---:|---:|---:|---:|---:|"]
        for t in result["tuning"]:
            o, d = t["options"], t["dev"]
            reranked = o["rerank"] and o["method"] != "medoid"
            rerank = "all input as one, unigrams" if reranked else "no reranking"
            order = "as in the reviews" if o["order"] == "position" else "cluster size"
            numbers = "avoided" if o["avoid_numbers"] else "allowed"
            lines.append(f"| {o['method']} | {rerank} | {order if o['method'] != 'mean' else '-'} | "
                         f"{o['no_repeat_ngram']} | {numbers if o['method'] != 'medoid' else '-'} | "
                         f"{o['length']} | {o['max_sentence_tokens'] or 'off'} | {d['rouge1']:.2f} | "
                         f"{d['rouge2']:.2f} | {d['rougeL']:.2f} |")
        lines += ["", f"Chosen: {result['chosen']}.", ""]
    if "goal" in result:
        goal = result["goal"]
        lines += [f"Goal on MeanSum rows 100-199: ROUGE-1 >= {GOAL['rouge1']}, ROUGE-2 >= {GOAL['rouge2']}, "
                  f"ROUGE-L >= {GOAL['rougeL']} and above every baseline: "
                  f"**{'met' if goal['met'] else 'not met'}** ({goal['detail']}).", ""]
    for example in result.get("examples", []):
        lines += [f"### Example: {example['group_id']}", ""]
        for i, reference in enumerate(example["references"], start=1):
            lines.append(f"- **human {i}**: {' '.join(reference.split())}")
        shown: dict[str, str] = {}
        for system, text in example["systems"].items():
            text = " ".join(text.split())
            lines.append(f"- **{system}**: " + (f"(the same text as {shown[text]})" if text in shown else text))
            shown.setdefault(text, system)
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", help="checkpoint or run directory of a VAE trained on Yelp sentences")
    parser.add_argument("--data", required=True, type=Path, help="the opinion_summ folder")
    parser.add_argument("--baselines-only", action="store_true", help="no model: baselines only")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="where summarize.json and summarize.md go (default benchmarks/results)")
    parser.add_argument("--grid", choices=("full", "small", "none"), default="small",
                        help="tuning on the dev groups: small (method, reranking), full (also budget "
                             "and clause splitting), none (the library defaults)")
    parser.add_argument("--yelp-length", type=int, default=None,
                        help="Yelp budget in words (default: the mean length of the dev human summaries)")
    parser.add_argument("--dev-groups", type=int, default=0, help="tune on the first N dev groups only (0: all)")
    parser.add_argument("--opinosis-length", type=int, default=None,
                        help="Opinosis budget (default: the mean length of its human summaries)")
    parser.add_argument("--meansum-split", type=int, default=100, help="MeanSum rows before this are dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    if not args.baselines_only and not args.model:
        parser.error("give -m MODEL or --baselines-only")

    def echo(*parts):
        print(*parts, file=sys.stderr, flush=True)

    sets = load_sets(args.data, args.meansum_split)
    yelp_length = args.yelp_length or mean_reference_words(sets["dev"])
    opinosis_length = args.opinosis_length or mean_reference_words(sets["opinosis"])
    result = {"protocol": "ROUGE-1/2/L F1 (rouge-score, Porter stemmer) averaged over references "
                          "then groups; sacrebleu corpus BLEU (lower-cased) and chrF",
              "model": args.model, "groups": {k: len(v) for k, v in sets.items()}, "results": {}}
    options, model = None, None
    if not args.baselines_only:
        import torch

        from sentvae.pipeline import VAEPipeline

        torch.set_num_threads(args.threads)
        model = VAEPipeline.from_pretrained(args.model)
        base = SummaryOptions(method="cluster", length=yelp_length, seed=args.seed)
        dev = sets["dev"][: args.dev_groups] if args.dev_groups else sets["dev"]
        echo(f"tuning on {len(dev)} dev groups (grid {args.grid})")
        options, trials = tune(model, dev, base, args.grid, echo)
        yelp_length = options.length
        result["tuning"] = trials
        result["chosen"] = _describe(options)
        if len(trials) > 1:  # cluster reranked and not, same budget
            result["rerank_helps_on_dev"] = _rouge_sum(trials[0]["dev"]) > _rouge_sum(trials[1]["dev"])
    result["budgets"] = {"yelp": yelp_length, "opinosis": opinosis_length}
    outputs: dict[str, dict[str, list[str]]] = {}
    for name in ("meansum_test", "meansum_all", "opinosis"):
        groups = sets[name]
        by_sentence = name == "opinosis"
        budget = opinosis_length if by_sentence else yelp_length
        start = time.time()
        systems = {}
        outputs[name] = {}
        for system, (scores, texts) in run_baselines(groups, budget, by_sentence, args.seed).items():
            systems[system] = _rounded(scores)
            outputs[name][system] = texts
        if model is not None and name != "meansum_all":
            scores, texts = run_model(model, groups, replace(options, length=budget))
            label = f"vae {options.method}{' + rerank' if options.rerank and options.method != 'medoid' else ''}"
            systems[label] = _rounded(scores)
            outputs[name][label] = texts
        result["results"][name] = systems
        echo(f"{name}: {len(groups)} groups, {time.time() - start:.0f} s")
        for system, scores in systems.items():
            echo(f"  {system:22s} R1 {scores['rouge1']:6.2f}  R2 {scores['rouge2']:5.2f}  "
                 f"RL {scores['rougeL']:6.2f}  BLEU {scores['bleu']:5.2f}  chrF {scores['chrf']:5.2f}")
    if model is not None:
        test = result["results"]["meansum_test"]
        vae = next(s for s in test if s.startswith("vae"))
        meets = all(test[vae][m] >= GOAL[m] for m in GOAL)
        beats = all(test[vae][m] > test[b][m] for b in ("random", "clustroid", "lexrank") for m in GOAL)
        result["goal"] = {"met": meets and beats, "thresholds": GOAL, "above_thresholds": meets,
                          "above_baselines": beats,
                          "detail": ", ".join(f"{m} {test[vae][m]:.2f}" for m in GOAL)}
    test_groups = sets["meansum_test"]
    result["examples"] = [{"group_id": g.id, "references": g.references,
                           "systems": {s: texts[i] for s, texts in outputs["meansum_test"].items()}}
                          for i, g in enumerate(test_groups[:3])]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summarize.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    (args.out / "summarize.md").write_text(markdown(result) + "\n", encoding="utf-8")
    echo(f"wrote {args.out / 'summarize.json'} and {args.out / 'summarize.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

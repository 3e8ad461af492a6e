"""Scoring summaries against human references, and a run as one JSON-ready report.

    rouge           ROUGE-1/2/L F1 of one summary, averaged over its references
    corpus_scores   the Copycat protocol over many groups: ROUGE, corpus BLEU and chrF
    report          a run's options, summaries (with per-group ROUGE) and `corpus_scores`

ROUGE is rouge-score's (the `summarize` extra), BLEU and chrF sacrebleu's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

from ..errors import ArgumentError
from .groups import Group
from .summarizer import Summary, SummaryOptions

ROUGE_NAMES = ("rouge1", "rouge2", "rougeL")


def rouge_scorer():
    """rouge-score's scorer for ROUGE-1/2/L with Porter stemming (needs the `summarize` extra)."""
    try:
        from rouge_score import rouge_scorer as module
    except ImportError:
        raise ArgumentError("ROUGE needs the rouge-score package: pip install 'sentvae[summarize]'") from None
    return module.RougeScorer(list(ROUGE_NAMES), use_stemmer=True)


def rouge(summary: str, references: list[str], scorer=None) -> dict[str, float]:
    """ROUGE-1/2/L F1 (x100) of a summary, averaged over its references."""
    scorer = scorer or rouge_scorer()
    totals = Counter()
    for reference in references:
        for name, score in scorer.score(reference, summary).items():
            totals[name] += score.fmeasure
    return {name: 100 * totals[name] / len(references) for name in ROUGE_NAMES}


def corpus_scores(summaries: list[str], references: list[list[str]]) -> dict[str, float]:
    """The Copycat protocol: ROUGE averaged over each group's references, then over groups; and
    corpus BLEU and chrF (sacrebleu, lower-cased, every reference of a group used). Groups without
    a reference are left out; "groups" counts the others."""
    import sacrebleu

    pairs = [(s, r) for s, r in zip(summaries, references) if r]
    if not pairs:
        raise ArgumentError("no group has a reference summary to evaluate against")
    scorer = rouge_scorer()
    totals = Counter()
    for summary, refs in pairs:
        totals.update(rouge(summary, refs, scorer))
    result = {name: totals[name] / len(pairs) for name in ROUGE_NAMES}
    hypotheses = [s for s, _ in pairs]
    width = max(len(r) for _, r in pairs)
    streams = [[r[i] if i < len(r) else None for _, r in pairs] for i in range(width)]
    result["bleu"] = float(sacrebleu.corpus_bleu(hypotheses, streams, lowercase=True).score)
    result["chrf"] = float(sacrebleu.corpus_chrf(hypotheses, streams).score)
    result["groups"] = len(pairs)
    return result


def report(summaries: list[Summary], groups: list[Group], options: SummaryOptions) -> dict:
    """Everything about a run as one JSON-ready dict: options, summaries (with their references
    and per-group ROUGE) and, if any group has references, their `corpus_scores` under
    "evaluation"."""
    records = []
    scorer = rouge_scorer() if any(g.references for g in groups) else None
    for summary, group in zip(summaries, groups):
        record = summary.to_dict()
        if group.references:
            record["references"] = group.references
            if summary.text:
                record["scores"].update({k: round(v, 2) for k, v in
                                         rouge(summary.text, group.references, scorer).items()})
        records.append(record)
    result = {"method": options.method, "options": asdict(options), "summaries": records}
    evaluated = [(s.text, g.references) for s, g in zip(summaries, groups) if g.references and s.text]
    if evaluated:
        result["evaluation"] = corpus_scores([t for t, _ in evaluated], [r for _, r in evaluated])
    return result

"""Word overlap: how consistent a summary is with its input (the reranking score).

The summariser keeps, among a cluster's candidate sentences, the one that gives the summary so far
the highest `mean_overlap` with the group's input, counted on unigrams of content words against
the whole input as one text (COOP's input-consistency idea, Iso et al. 2021). The measures also
take higher n-gram orders and several texts, which the dev groups tried and did not keep (see
`SummaryOptions`).
"""

from __future__ import annotations

from collections import Counter


def content_tokens(tokens: list[str]) -> list[str]:
    """The tokens that overlap is counted on: words and numbers, lower-cased (no punctuation)."""
    return [t.lower() for t in tokens if any(c.isalnum() for c in t) and t not in ("<unk>",)]


def bag_f1(candidate: list | Counter, reference: list | Counter) -> float:
    """F1 of the clipped matches of two bags (token lists or Counters of tokens or n-grams):
    ROUGE-N F without stemming."""
    cand = candidate if isinstance(candidate, Counter) else Counter(candidate)
    ref = reference if isinstance(reference, Counter) else Counter(reference)
    matched = sum((cand & ref).values())
    if matched == 0:
        return 0.0
    precision, recall = matched / sum(cand.values()), matched / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def ngram_counts(tokens: list[str], order: int) -> list[Counter]:
    """Counts of the 1-grams .. `order`-grams of the content tokens (punctuation dropped first)."""
    words = content_tokens(tokens)
    return [Counter(zip(*(words[i:] for i in range(n)))) for n in range(1, order + 1)]


def input_overlap(summary_tokens: list[str], input_tokens: list[str] | list[Counter], order: int = 1) -> float:
    """How consistent a summary is with its input: the mean over n = 1..`order` of the n-gram F1
    of their content tokens (order 1: unigram F1). `input_tokens` may be the tokens or their
    `ngram_counts` (then `order` is their length)."""
    return mean_overlap(summary_tokens, [input_tokens], order)


def mean_overlap(summary_tokens: list[str], texts: list[list[str]] | list[list[Counter]], order: int = 1) -> float:
    """The mean `input_overlap` of a summary with each of several input texts (each given as its
    tokens or its `ngram_counts`). Against each review rather than their concatenation, as COOP
    does: a sentence that many reviews share scores higher than one that repeats a single review.
    The summary's n-grams are counted once, whatever the number of texts."""
    bags = [text if text and isinstance(text[0], Counter) else ngram_counts(text, order) for text in texts]
    summary = ngram_counts(summary_tokens, len(bags[0]))
    return sum(sum(bag_f1(s, b) for s, b in zip(summary, bag)) / len(bag) for bag in bags) / len(bags)

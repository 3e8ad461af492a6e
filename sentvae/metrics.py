"""Text metrics over lists of sentences: BLEU (sacrebleu), distinct-n, self-BLEU."""

from __future__ import annotations


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU (sacrebleu, 0-100) of hypotheses against one reference each.

    The texts are already tokenised, so sacrebleu's own tokenisation is turned off.
    """
    import sacrebleu

    if not hypotheses:
        return 0.0
    return float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none").score)


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams over a set of sentences."""
    grams = [tuple(words[i: i + n]) for words in (t.split() for t in texts)
             for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: list[str], max_sentences: int = 500) -> float:
    """Self-BLEU (Zhu et al. 2018): mean BLEU of each sentence against all the others (0-100).

    Lower means more diverse. Uses at most `max_sentences` sentences as hypotheses.
    """
    import sacrebleu

    texts = [t for t in texts if t.strip()]
    if len(texts) < 2:
        return 0.0
    scores = []
    for i, hypothesis in enumerate(texts[:max_sentences]):
        others = texts[:i] + texts[i + 1:]
        scores.append(sacrebleu.sentence_bleu(hypothesis, others, tokenize="none").score)
    return sum(scores) / len(scores)

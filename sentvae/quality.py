"""What users judge a text VAE by: sentences coming back from their codes, interpolations that
start and end at the given sentences, and prior samples that read like the corpus.

    reconstruction_bleu      BLEU and exact match of decodes of the posterior means
    prior_sample_diversity   distinct-1/2 and self-BLEU of sentences decoded from the prior
    forward_perplexity       per-token perplexity of texts under a language model (ARAE's
                             "forward PPL": a sentvae `latent_dim: 0` checkpoint on the same data)
    generation_quality       for each prior (N(0, I), and the fitted mixture when there is one):
                             prior samples' diversity, fluency under `lm` and, on the built-in
                             corpus, grammaticality (the exact recogniser); interpolations between
                             test sentences: endpoints reconstructing them, points grammatical
"""

from __future__ import annotations

import logging
import random

import numpy as np
import torch

from .corpus import is_grammatical
from .data import EncodedSplit, encode_split
from .decoding import DecodingOptions
from .errors import ArgumentError
from .latent import posterior_parameters
from .likelihood import exact_nll
from .metrics import corpus_bleu, distinct_n, self_bleu
from .pipeline import VAEPipeline


LENGTH_BUCKETS = ((1, 7), (8, 11), (12, 15), (16, None))  # tokens per sentence (words, for a word tokenizer)


def code_decoding(beam: int = 1, max_length: int | None = None, rerank: bool = False) -> DecodingOptions:
    """How the metrics decode a latent code into a sentence: greedily (`beam` 1) or by beam search
    of width `beam`, ranked by the raw log-probability (the most likely sentence the search finds)
    or, with `rerank`, by log p(x | z) + log q(z | x) (decoding.py: the sentence that encodes back
    to its code). Every function here that decodes codes takes `beam`; those that decode the codes
    of given sentences (reconstructions, interpolations) also take `rerank`."""
    if rerank and beam < 2:
        raise ArgumentError("re-ranking needs a beam of width 2 or more")
    if beam == 1:
        return DecodingOptions("greedy", max_length=max_length)
    return DecodingOptions("beam", beam=beam, max_length=max_length, rerank=rerank)


def decoding_name(options: DecodingOptions) -> str:
    """"greedy", "beam 5" or "beam 5, re-ranked": the name of a code decoding in tables."""
    if options.strategy != "beam":
        return options.strategy
    return f"beam {options.beam}" + (", re-ranked" if options.rerank else "")


def exact_match_by_length(lengths: np.ndarray, same: list[bool]) -> dict[str, dict]:
    """Share of exact reconstructions per length bucket: {"1-7": {"sentences", "exact_match"}, ...};
    a bucket with no sentence is left out."""
    same_array = np.asarray(same, dtype=bool)
    buckets = {}
    for low, high in LENGTH_BUCKETS:
        inside = lengths >= low
        if high is not None:
            inside &= lengths <= high
        if inside.any():
            buckets[f"{low}-{high}" if high is not None else f"{low}+"] = {
                "sentences": int(inside.sum()), "exact_match": float(same_array[inside].mean())}
    return buckets


def reconstruction_bleu(vae: VAEPipeline, split: EncodedSplit, posterior: tuple | None = None,
                        max_sentences: int | None = None, batch_size: int = 256, beam: int = 1,
                        rerank: bool = False) -> dict:
    """Corpus BLEU (0-100) and exact match of decodes of the posterior means against the input
    sentences: greedy, or (`beam` > 1) beam search of that width (`rerank`: re-ranked by re-encoding).

    References are the inputs as the model sees them (its tokens, `<unk>` for unknown words).
    """
    mu, _ = posterior if posterior is not None else posterior_parameters(vae.model, split)
    chosen = np.arange(len(split))
    if max_sentences is not None and max_sentences < len(split):
        chosen = np.random.default_rng(0).choice(len(split), size=max_sentences, replace=False)
    order = chosen[np.argsort(split.lengths[chosen], kind="stable")]  # similar lengths decode together
    references = [vae.tokenizer.decode(ids) for ids in split.batch_ids(order)]
    longest = int(split.lengths.max())
    options = code_decoding(beam, max_length=max(longest, vae.cfg.max_length), rerank=rerank)
    generations = vae.generate(mu[torch.from_numpy(order)], options, batch_size=max(1, batch_size // beam),
                               fused=False)  # the codes of given sentences: the VAE alone
    hypotheses = [g.text for g in generations]
    sacrebleu_logger = logging.getLogger("sacrebleu")
    level = sacrebleu_logger.level
    sacrebleu_logger.setLevel(logging.ERROR)  # it warns that the texts look tokenised: they are
    try:
        bleu = corpus_bleu(hypotheses, references)
    finally:
        sacrebleu_logger.setLevel(level)
    same = [h == r for h, r in zip(hypotheses, references)]
    return {"reconstruction_bleu": bleu, "reconstruction_decoding": decoding_name(options),
            "reconstruction_exact_match": sum(same) / len(references), "reconstruction_sentences": len(references),
            "reconstruction_exact_match_by_length": exact_match_by_length(split.lengths[order], same),
            "examples": [{"input": r, "output": h} for r, h in zip(references[::max(1, len(order) // 5)],
                                                                 hypotheses[::max(1, len(order) // 5)])][:5]}


def _sample_decoding(vae: VAEPipeline, strategy: str | None, beam: int) -> DecodingOptions:
    """A VAE decodes its prior codes greedily (or by beam search: `beam` > 1); a language model
    (no z, so greedy would repeat one sentence) samples. Never re-ranked: a prior code has no
    sentence to come back to, and re-ranking by re-encoding made samples less grammatical
    (README, rate section)."""
    if strategy is None:
        return code_decoding(beam) if vae.cfg.has_latent else DecodingOptions("sample")
    return DecodingOptions(strategy, beam=beam) if strategy == "beam" else DecodingOptions(strategy)


def prior_sample_texts(vae: VAEPipeline, n: int, seed: int = 0, prior: str | None = None,
                       strategy: str | None = None, beam: int = 1, z_scale: float = 1.0,
                       refine: int = 0) -> list[str]:
    """`n` sentences decoded from `prior` (as in `VAEPipeline.prior_codes`, its spread times
    `z_scale`): by `strategy`, or by default greedily (beam search with `beam` > 1) for a VAE,
    sampled for a language model; `refine` rounds through the autoencoder (`VAEPipeline.refine`)."""
    decoding = _sample_decoding(vae, strategy, beam)
    return [g.text for g in vae.sample(n, decoding, z_scale=z_scale, seed=seed, prior=prior, refine=refine)]


def prior_sample_diversity(vae: VAEPipeline, n: int = 1000, seed: int = 0, strategy: str | None = None,
                           self_bleu_sentences: int = 500, texts: list[str] | None = None, beam: int = 1) -> dict:
    """Distinct-1/2 and self-BLEU of `n` sentences decoded from the prior (`prior_sample_texts`;
    or `texts`, the same sentences already decoded). Self-BLEU scores at most
    `self_bleu_sentences` hypotheses against all the other samples.
    """
    decoding = _sample_decoding(vae, strategy, beam)
    texts = prior_sample_texts(vae, n, seed, strategy=strategy, beam=beam) if texts is None else texts
    return {"prior_samples": n, "prior_strategy": decoding_name(decoding),
            "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
            "self_bleu": self_bleu(texts, max_sentences=self_bleu_sentences),
            "unique_samples": len(set(texts)) / max(1, len(texts)),
            "sample_examples": texts[:5]}


def texts_split(vae: VAEPipeline, texts: list[str]) -> EncodedSplit:
    """Texts tokenised by `vae`'s tokenizer, kept whole; those with no token are dropped (counted)."""
    import datasets

    dataset = datasets.Dataset.from_dict({"text": list(texts)})
    split = encode_split(dataset, vae.tokenizer, 10 ** 9, long_sentences="truncate")
    split.dropped = len(dataset) - len(split)
    return split


def forward_perplexity(lm: VAEPipeline, texts: list[str]) -> dict:
    """Per-token perplexity (targets: words + <eos>) of `texts` under the language model `lm`."""
    split = texts_split(lm, texts)
    if len(split) == 0:
        return {"ppl": None, "sentences": 0, "empty": split.dropped}
    scored = exact_nll(lm.model, split)
    return {"ppl": scored["ppl"], "nll_per_token": scored["nll_per_token"],
            "sentences": len(split), "empty": split.dropped}


def _normalised(vae: VAEPipeline, text: str) -> str:
    """A sentence as the model writes it: its tokens decoded (lower-cased, <unk> for unknown words)."""
    return vae.tokenizer.decode(vae.tokenizer.encode(text))


def interpolation_quality(vae: VAEPipeline, sentences: list[str], pairs: int = 100, steps: int = 8,
                          seed: int = 0, grammar: bool = False, beam: int = 1, rerank: bool = False) -> dict:
    """`pairs` interpolations between random distinct test sentences, every point decoded greedily
    (or, `beam` > 1, by beam search of that width; `rerank` re-ranks the ends): how often the first
    and last points give back the two sentences, and (grammar) the share of grammatical points."""
    rng = random.Random(seed)
    options = code_decoding(beam, rerank=rerank)
    usable = [s for s in sentences if vae.tokenizer.encode(s)]
    endpoints = points = grammatical = 0
    examples = []
    for _ in range(pairs):
        first, second = rng.sample(usable, 2)
        path = vae.interpolate(first, second, steps=steps, options=options)
        endpoints += (path[0].text == _normalised(vae, first)) + (path[-1].text == _normalised(vae, second))
        points += len(path)
        grammatical += sum(is_grammatical(r.text) for r in path) if grammar else 0
        if len(examples) < 2:
            examples.append({"first": first, "second": second, "points": [r.text for r in path]})
    return {"pairs": pairs, "steps": steps, "decoding": decoding_name(options),
            "endpoint_exact_match": endpoints / (2 * pairs),
            "grammatical_points": grammatical / points if grammar else None, "examples": examples}


def generation_quality(vae: VAEPipeline, sentences: list[str], n: int = 1000, seed: int = 0,
                       lm: VAEPipeline | None = None, grammar: bool = False, pairs: int = 100,
                       steps: int = 8, samples: dict[str, list[str]] | None = None, beam: int = 1,
                       rerank: bool = False, z_scale: float = 1.0, refine: int = 0) -> dict:
    """Both sides of the rate trade-off for each prior the model has (see the module docstring).

    `sentences` are real test sentences (interpolation ends; with `lm`, its perplexity on them is
    the reference the samples' forward perplexity is compared with). `samples` maps a prior to
    its `prior_sample_texts(vae, n, seed, prior, beam=beam)` when the caller has already decoded
    them. `beam` > 1 decodes the prior samples and the interpolations by beam search of that width;
    `rerank` re-ranks the interpolations' ends by re-encoding (the samples' never). `z_scale`
    scales the spread of the prior codes (`VAEPipeline.prior_codes`) and `refine` takes the samples
    that many times through the autoencoder (`VAEPipeline.refine`); interpolations are not drawn
    from a prior and change with neither.
    """
    results: dict = {"decoding": decoding_name(_sample_decoding(vae, None, beam)), "z_scale": z_scale,
                     "refine": refine, "priors": {}}
    priors = ["standard"] + (["fitted"] if vae.prior is not None else [])
    for prior in priors:
        texts = (samples or {}).get(prior) or prior_sample_texts(vae, n, seed, prior, beam=beam, z_scale=z_scale,
                                                                       refine=refine)
        entry = {"samples": n, "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
                 "unique_samples": len(set(texts)) / n, "examples": texts[:5]}
        if lm is not None:
            entry["forward_ppl"] = forward_perplexity(lm, texts)["ppl"]
        if grammar:
            entry["grammatical"] = sum(map(is_grammatical, texts)) / n
        results["priors"][prior] = entry
    if lm is not None:
        results["lm_ppl_real"] = forward_perplexity(lm, sentences)["ppl"]
    if vae.cfg.has_latent and len(sentences) >= 2 and pairs > 0:
        results["interpolation"] = interpolation_quality(vae, sentences, pairs, steps, seed, grammar,
                                                         beam, rerank)
    return results

"""Evaluation of a trained model on a corpus: every metric as one table (`sentvae evaluate`).

Units: nats. "Per sentence" sums over a sentence's decoder targets; "per token" divides the total
by the number of targets, which are the words **and one `<eos>` per sentence** (the convention of
Bowman et al. 2016 and He et al. 2019), so perplexities here are slightly lower than per-word ones.

    evaluate_bound           -ELBO at beta = 1 (one posterior sample), reconstruction NLL, KL
    importance_weighted_nll  -log (1/K) sum_k p(x, z_k) / q(z_k | x)   (Burda et al. 2016)
    importance_weighted_nlls the same under several priors (N(0, I), a fitted one) in one pass
    exact_nll                the language-model baseline's exact NLL (no latent to integrate out)
    mutual_information       I(x; z) under q, the estimator of He et al. (2019)
    active_units             dimensions with Cov_x E[z | x] > 0.01 (Burda et al. 2016)
    reconstruction_bleu      BLEU of greedy (or beam) decodes of the posterior means against the inputs
    prior_sample_diversity   distinct-1/2 and self-BLEU of sentences decoded from the prior
    evaluate                 all of the above as one dict; `format_table` prints it

The likelihoods live in likelihood.py and the latent-space measures in latent.py (both re-exported
here); this module adds the corpus loading and the text-level measures, which need the tokenizer.

Every random draw comes from a seeded `torch.Generator` of its own, so results are reproducible
and the global RNG is never touched. Test sentences are never dropped: sentences longer than the
model's `max_length` are kept whole by default (or truncated, on request) and counted.
"""

from __future__ import annotations

import time

from .data import EncodedSplit, encode_split, load_text_dataset
from .errors import ArgumentError, DataError
from .latent import active_units, kl_per_dimension, mutual_information, posterior_parameters
from .likelihood import Echo, evaluate_bound, exact_nll, importance_weighted_nll, importance_weighted_nlls
from .pipeline import VAEPipeline
from .quality import (code_decoding, generation_quality, prior_sample_diversity, prior_sample_texts,
                      reconstruction_bleu)

TOKEN_NOTE = "per-token figures divide by the decoder targets: the words plus one <eos> per sentence"


# --- data ----------------------------------------------------------------------------------------

def load_evaluation_split(vae: VAEPipeline, source: str, text_column: str = "text",
                          max_sentences: int | None = None, long_sentences: str = "keep",
                          encoding_errors: str = "strict") -> EncodedSplit:
    """Read and tokenise a corpus for evaluation with the model's own tokenizer.

    `long_sentences`: "keep" scores sentences longer than `model.cfg.max_length` whole (the GRUs
    handle any length); "truncate" cuts them. Nothing is dropped except sentences that tokenise to
    nothing (`split.dropped` counts those). `max_sentences` evaluates a prefix of the file.
    """
    if long_sentences not in ("keep", "truncate"):
        raise ArgumentError(f"long_sentences must be 'keep' or 'truncate', got {long_sentences!r}")
    if max_sentences is not None and max_sentences < 1:
        raise ArgumentError(f"max_sentences must be >= 1, got {max_sentences}")
    dataset = load_text_dataset(source, text_column=text_column, encoding_errors=encoding_errors)
    if max_sentences is not None and max_sentences < len(dataset):
        dataset = dataset.select(range(max_sentences))
    limit = vae.cfg.max_length if long_sentences == "truncate" else 10 ** 9
    split = encode_split(dataset, vae.tokenizer, limit, long_sentences="truncate")
    split.dropped = len(dataset) - len(split)  # empty after tokenisation
    if len(split) == 0:
        raise ArgumentError(f"{source}: no sentence has any token the model can score")
    return split


def column_values(split: EncodedSplit, column: str) -> list:
    """The values of a column of the corpus (e.g. a label), one per sentence of the split."""
    if column not in split.dataset.column_names:
        names = [c for c in split.dataset.column_names if c not in ("ids", "too_long")]
        raise DataError(f"no column {column!r} in the data (columns: {', '.join(names)})")
    return list(split.column(column))



# --- everything ---------------------------------------------------------------------------------

def evaluate(vae: VAEPipeline, split: EncodedSplit, iw_samples: int = 100, batch_size: int = 256, seed: int = 0,
             prior_samples: int = 1000, mi_batch_size: int = 32, au_threshold: float = 0.01,
             bleu_sentences: int | None = None, echo: Echo | None = None,
             lm: VAEPipeline | None = None, grammar: bool = False,
             interpolation_pairs: int = 100, beam: int = 1, rerank: bool = False,
             z_scale: float = 1.0, refine: int = 0) -> dict:
    """All metrics of a model on a split as one JSON-ready dict (see `format_table`).

    For a model without a latent (the language-model baseline) the NLL is exact and the latent
    metrics (KL, mutual information, active units, reconstruction BLEU) are None (not applicable).
    `prior_samples=0` skips the prior-sample diversity metrics. With a fitted prior the NLL is
    also given under it (`nll_per_sentence_fitted_prior`). `results["generation"]` holds
    `quality.generation_quality`: per prior, samples' diversity, forward perplexity under `lm`
    and (`grammar`: the built-in corpus) grammaticality; interpolation endpoints and points.
    Every latent code (reconstructions, prior samples, interpolations) is decoded greedily, or
    with `beam` > 1 by beam search of that width; `rerank` re-ranks the beams of reconstructions
    and interpolation ends by re-encoding (decoding.py), not those of prior samples or of the
    points inside a path. `z_scale` < 1 draws the prior samples closer to each prior's mean (as
    `sentvae sample --z-scale` does) and `refine` takes them that many times through the
    autoencoder (`sentvae sample --refine`); the NLLs are always under the priors as they are.
    """
    for name, value, least in (("batch_size", batch_size, 1), ("iw_samples", iw_samples, 1),
                               ("prior_samples", prior_samples, 0), ("mi_batch_size", mi_batch_size, 1),
                               ("beam", beam, 1)):
        if value < least:
            raise ArgumentError(f"{name} must be >= {least}, got {value}")
    if not z_scale > 0:
        raise ArgumentError(f"z_scale must be > 0, got {z_scale}")
    code_decoding(beam, rerank=rerank)  # re-ranking without a beam fails here, before the slow passes
    vae.check_refine(refine)  # and refining a language model's samples
    model = vae.model
    was_training = model.training
    model.eval()
    seconds: dict[str, float] = {}

    def timed(name: str, function, *args, **kwargs):
        if echo is not None:
            echo(f"evaluating: {name} ...")
        started = time.perf_counter()
        value = function(*args, **kwargs)
        seconds[name] = time.perf_counter() - started
        return value

    has_latent = model.encoder is not None
    over_length = int((split.lengths > model.cfg.max_length).sum())
    results: dict = {
        "latent": has_latent, "latent_dim": model.cfg.latent_dim if has_latent else 0,
        "sentences": len(split), "tokens": split.num_targets, "token_note": TOKEN_NOTE,
        "sentences_truncated": int(split.truncated),
        "sentences_over_max_length_kept": over_length if not split.truncated else 0,
        "sentences_dropped_empty": int(split.dropped), "seed": seed,
    }
    results.update(timed("elbo", evaluate_bound, model, split, batch_size=min(batch_size, 128), seed=seed))
    fitted = None
    if has_latent:
        # The fitted prior's NLL comes from the same draws and decoder passes as N(0, I)'s.
        priors = {"standard": None} if vae.prior is None else {"standard": None, "fitted": vae.prior}
        nlls = timed("iw_nll", importance_weighted_nlls, model, split, priors, k=iw_samples,
                     batch_size=batch_size, seed=seed, echo=echo)
        nll, fitted = nlls["standard"], nlls.get("fitted")
    else:
        nll = timed("exact_nll", exact_nll, model, split, batch_size=min(batch_size, 128))
    nll.pop("per_sentence")
    results.update(nll)
    results.update({"mutual_information": None, "mutual_information_all": None,
                    "mi_batch_size": mi_batch_size, "active_units": None, "au_threshold": au_threshold,
                    "reconstruction_bleu": None, "reconstruction_exact_match": None})
    if has_latent:
        posterior = timed("posterior", posterior_parameters, model, split)
        results["mutual_information"] = timed("mi", mutual_information, model, split,
                                              batch_size=mi_batch_size, seed=seed, posterior=posterior)
        results["mutual_information_all"] = mutual_information(model, split, seed=seed, aggregate="all",
                                                               posterior=posterior)
        units = active_units(model, split, threshold=au_threshold, posterior=posterior)
        results["active_units"] = units["active_units"]
        results["au_variances"] = units["variances"]
        results["kl_per_dimension"] = kl_per_dimension(model, split, posterior=posterior)
        results.update(timed("reconstruction", reconstruction_bleu, vae, split, posterior=posterior,
                             max_sentences=bleu_sentences, beam=beam, rerank=rerank))
    if fitted is not None:
        results.update({"nll_per_sentence_fitted_prior": fitted["nll_per_sentence"],
                        "nll_per_token_fitted_prior": fitted["nll_per_token"],
                        "ppl_fitted_prior": fitted["ppl"], "fitted_prior_components": vae.prior.components})
    if prior_samples > 0:
        default_prior = "fitted" if vae.prior is not None else "standard"  # what `sample` uses
        texts = timed("prior_samples", prior_sample_texts, vae, prior_samples, seed, default_prior, beam=beam,
                      z_scale=z_scale, refine=refine)
        results.update(prior_sample_diversity(vae, n=prior_samples, seed=seed, texts=texts, beam=beam))
        results.update(prior_z_scale=z_scale, prior_refine=refine)
        sentences = list(split.column("text"))
        results["generation"] = timed("generation", generation_quality, vae, sentences, n=prior_samples,
                                      seed=seed, lm=lm, grammar=grammar, pairs=interpolation_pairs,
                                      samples={default_prior: texts}, beam=beam, rerank=rerank, z_scale=z_scale,
                                      refine=refine)
    results["seconds"] = seconds
    model.train(was_training)
    return results


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _sampling_note(z_scale: float, refine: int) -> str:
    """", z scale 0.6, refined 1x" for prior samples drawn with a narrower spread / refined;
    nothing at the defaults."""
    return ("" if z_scale == 1.0 else f", z scale {z_scale:g}") + (f", refined {refine}x" if refine else "")


def _generation_rows(generation: dict | None) -> list[tuple[str, str]]:
    """Table rows of `quality.generation_quality`: per prior, then the interpolations."""
    if not generation:
        return []
    rows = []
    percent = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    decoding = generation.get("decoding", "greedy")  # of the samples; absent from older results
    spread = _sampling_note(generation.get("z_scale", 1.0), generation.get("refine", 0))
    if "lm_ppl_real" in generation:
        rows.append(("language model's perplexity on the real sentences", _fmt(generation["lm_ppl_real"])))
    for prior, entry in generation["priors"].items():
        name = "N(0, I)" if prior == "standard" else "the fitted prior"
        rows.append((f"{decoding} samples from {name}{spread}: distinct-2", _fmt(entry["distinct_2"], 3)))
        if "forward_ppl" in entry:
            rows.append(("  forward perplexity under the language model", _fmt(entry["forward_ppl"])))
        if "grammatical" in entry:
            rows.append(("  grammatical (built-in corpus recogniser)", percent(entry["grammatical"])))
    interpolation = generation.get("interpolation")
    if interpolation:
        rows.append((f"interpolations ({interpolation['pairs']} pairs, {interpolation['steps']} points, "
                     f"{interpolation.get('decoding', 'greedy')}): ends reconstruct",
                     percent(interpolation["endpoint_exact_match"])))
        if interpolation["grammatical_points"] is not None:
            rows.append(("  points grammatical", percent(interpolation["grammatical_points"])))
    return rows


def format_table(results: dict) -> str:
    """A readable two-column table of `evaluate`'s results (n/a: not applicable to the model)."""
    latent = results["latent"]
    decoding = results.get("reconstruction_decoding") or "greedy"
    nll_name = f"NLL, importance-weighted (K={results['iw_samples']})" if latent else "NLL, exact (no latent)"
    au = f"{results['active_units']}/{results['latent_dim']}" if latent else "n/a"
    rows = [
        ("sentences / tokens", f"{results['sentences']:,} / {results['tokens']:,}"),
        (f"{nll_name} per sentence", _fmt(results["nll_per_sentence"])),
        (f"{nll_name} per token", _fmt(results["nll_per_token"], 4)),
        ("perplexity (exp of that NLL per token)", _fmt(results["ppl"])),
        ("-ELBO (beta = 1) per sentence", _fmt(results["neg_elbo_per_sentence"])),
        ("  reconstruction NLL per sentence", _fmt(results["rec_per_sentence"])),
        ("  KL per sentence", _fmt(results["kl_per_sentence"]) if latent else "n/a"),
        ("-ELBO per token", _fmt(results["neg_elbo_per_token"], 4)),
        (f"mutual information (He et al., batches of {results['mi_batch_size']})",
         _fmt(results["mutual_information"], 3)),
        ("mutual information (whole-set aggregate posterior)",
         _fmt(results.get("mutual_information_all"), 3)),
        (f"active units (Cov_x E[z|x] > {results['au_threshold']})", au),
        (f"reconstruction BLEU (posterior mean, {decoding})", _fmt(results["reconstruction_bleu"])),
    ]
    if "nll_per_sentence_fitted_prior" in results:
        rows += [(f"NLL under the fitted prior ({results['fitted_prior_components']} components) per sentence",
                  _fmt(results["nll_per_sentence_fitted_prior"])),
                 ("  its perplexity", _fmt(results["ppl_fitted_prior"]))]
    rows += [(f"reconstruction exact match (posterior mean, {decoding})",
              _fmt(None if results.get("reconstruction_exact_match") is None
                   else 100 * results["reconstruction_exact_match"]) + ("%" if latent else ""))]
    by_length = results.get("reconstruction_exact_match_by_length") or {}
    if by_length:
        rows += [("  by length (tokens): " + ", ".join(by_length), " / ".join(
            f"{100 * bucket['exact_match']:.0f}% of {bucket['sentences']:,}" for bucket in by_length.values()))]
    rows += _generation_rows(results.get("generation"))
    if "distinct_1" in results:
        n, strategy = results["prior_samples"], results["prior_strategy"]
        spread = _sampling_note(results.get("prior_z_scale", 1.0), results.get("prior_refine", 0))
        rows += [(f"prior samples ({n:,}, {strategy}{spread}): distinct-1", _fmt(results["distinct_1"], 3)),
                 ("  distinct-2", _fmt(results["distinct_2"], 3)),
                 ("  self-BLEU (lower = more diverse)", _fmt(results["self_bleu"]))]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value:>14}" for name, value in rows]
    notes = [f"nats; {results['token_note']}."]
    if results["sentences_truncated"]:
        notes.append(f"{results['sentences_truncated']} sentences were truncated to the model's max_length.")
    if results.get("sentences_over_max_length_kept"):
        notes.append(f"{results['sentences_over_max_length_kept']} sentences longer than the model's "
                     "max_length were scored whole.")
    if results["sentences_dropped_empty"]:
        notes.append(f"{results['sentences_dropped_empty']} sentences had no tokens and were skipped.")
    return "\n".join(lines + [""] + notes)


__all__ = ["load_evaluation_split", "column_values", "posterior_parameters", "evaluate_bound", "exact_nll",
           "importance_weighted_nll", "importance_weighted_nlls", "mutual_information", "active_units",
           "kl_per_dimension", "reconstruction_bleu", "prior_sample_diversity", "evaluate", "format_table",
           "TOKEN_NOTE"]

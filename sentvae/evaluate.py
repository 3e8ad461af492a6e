"""Evaluation of a trained model on a corpus: pure functions over a model and an `EncodedSplit`.

Units: nats. "Per sentence" sums over a sentence's decoder targets; "per token" divides the total
by the number of targets, which are the words **and one `<eos>` per sentence** (the convention of
Bowman et al. 2016 and He et al. 2019), so perplexities here are slightly lower than per-word ones.

    evaluate_bound           -ELBO at beta = 1 (one posterior sample), reconstruction NLL, KL
    importance_weighted_nll  -log (1/K) sum_k p(x, z_k) / q(z_k | x)   (Burda et al. 2016)
    exact_nll                the language-model baseline's exact NLL (no latent to integrate out)
    mutual_information       I(x; z) under q, the estimator of He et al. (2019)
    active_units             dimensions with Cov_x E[z | x] > 0.01 (Burda et al. 2016)
    reconstruction_bleu      BLEU of greedy decodes of the posterior means against the inputs
    prior_sample_diversity   distinct-1/2 and self-BLEU of sentences decoded from the prior
    evaluate                 all of the above as one dict; `format_table` prints it

Every random draw comes from a seeded `torch.Generator` of its own, so results are reproducible
and the global RNG is never touched. Test sentences are never dropped: sentences longer than the
model's `max_length` are kept whole by default (or truncated, on request) and counted.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np
import torch

from .data import EncodedSplit, collate, encode_split, iterate, load_text_dataset, sorted_batches
from .decoding import DecodingOptions
from .errors import ArgumentError, DataError
from .metrics import corpus_bleu, distinct_n, self_bleu
from .objective import gaussian_kl
from .pipeline import VAEPipeline

LOG_2PI = math.log(2 * math.pi)
TOKEN_NOTE = "per-token figures divide by the decoder targets: the words plus one <eos> per sentence"

Echo = Callable[[str], None]


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
        names = [c for c in split.dataset.column_names if c not in ("ids", "length", "too_long")]
        raise DataError(f"no column {column!r} in the data (columns: {', '.join(names)})")
    return list(split.column(column))


def _progress(echo: Echo | None, label: str, sentences: int, total_sentences: int, work: float,
              started: float, state: dict) -> None:
    """Print progress about every 10% of the work (a fraction in [0, 1]) with a time estimate."""
    if echo is None or (work < state.get("next", 0.1) and sentences < total_sentences):
        return
    state["next"] = math.floor(work * 10 + 1) / 10
    seconds = time.perf_counter() - started
    left = seconds * (1 - work) / max(work, 1e-9)
    echo(f"{label}: {sentences:,}/{total_sentences:,} sentences ({100 * work:.0f}% of the tokens), "
         f"{seconds / 60:.1f} min elapsed, ~{left / 60:.1f} min left")


# --- posterior ----------------------------------------------------------------------------------

@torch.no_grad()
def posterior_parameters(model, split: EncodedSplit, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """mu, logvar (N, Z) of q(z | x) for every sentence of the split, in the split's order (CPU)."""
    if model.encoder is None:
        raise ArgumentError("this model has no latent code (a language model)")
    was_training = model.training
    model.eval()
    mu = torch.empty(len(split), model.cfg.latent_dim)
    logvar = torch.empty_like(mu)
    for indices in sorted_batches(split.lengths, batch_size):
        tokens, lengths = collate(split.batch_ids(indices))
        batch_mu, batch_logvar = model.posterior(tokens.to(model.device), lengths.to(model.device))
        mu[torch.from_numpy(indices)] = batch_mu.float().cpu()
        logvar[torch.from_numpy(indices)] = batch_logvar.float().cpu()
    model.train(was_training)
    return mu, logvar


def _diagonal_gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension (broadcasting)."""
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + LOG_2PI).sum(-1)


# --- bounds and likelihoods ---------------------------------------------------------------------

@torch.no_grad()
def evaluate_bound(model, split: EncodedSplit, batch_size: int = 128, seed: int = 0) -> dict:
    """Negative ELBO at beta = 1 = reconstruction NLL (one posterior sample) + analytic KL.

    Per sentence and per target token, with the active units of the posterior means; for a model
    without a latent the reconstruction NLL is the exact NLL and the KL is 0. Training validates
    with this function, so training and evaluation report the same bound. The global RNG is left
    untouched, so evaluating never changes what training does next.
    """
    was_training = model.training
    model.eval()
    device = model.device
    rec_sum = kl_sum = 0.0
    means = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for tokens, lengths in iterate(split, sorted_batches(split.lengths, batch_size)):
            out = model(tokens.to(device), lengths.to(device), sample_z=True)
            rec_sum += float(out.rec.sum())
            if out.mu is not None:
                kl_sum += float(gaussian_kl(out.mu, out.logvar).sum())
                means.append(out.mu.float().cpu())
    model.train(was_training)
    sentences, targets = len(split), split.num_targets
    bound = rec_sum + kl_sum
    active = 0
    if means and sentences > 1:
        active = int((torch.cat(means).var(dim=0, unbiased=True) > 0.01).sum())
    return {
        "neg_elbo_per_sentence": bound / sentences,  # an upper bound on the NLL
        "rec_per_sentence": rec_sum / sentences,
        "kl_per_sentence": kl_sum / sentences,
        "neg_elbo_per_token": bound / targets,
        "rec_per_token": rec_sum / targets,
        "kl_per_token": kl_sum / targets,
        "ppl_elbo": math.exp(min(bound / targets, 50.0)),
        "active_units": active,
        "sentences": sentences,
        "tokens": targets,
    }


def _nll_summary(per_sentence: np.ndarray, split: EncodedSplit, method: str, k: int | None) -> dict:
    total = float(per_sentence.sum())
    per_token = total / split.num_targets
    return {"nll_per_sentence": total / len(split), "nll_per_token": per_token,
            "ppl": math.exp(min(per_token, 50.0)), "nll_method": method, "iw_samples": k,
            "per_sentence": per_sentence}


@torch.no_grad()
def exact_nll(model, split: EncodedSplit, batch_size: int = 128, max_tokens: int = 8192) -> dict:
    """Exact NLL of a model without a latent (the language-model baseline): -log p(x)."""
    if model.encoder is not None:
        raise ArgumentError("exact_nll needs a model without a latent; use importance_weighted_nll")
    was_training = model.training
    model.eval()
    per_sentence = np.zeros(len(split))
    for indices in _length_batches(split.lengths, batch_size, max_tokens):
        tokens, lengths = collate(split.batch_ids(indices))
        out = model(tokens.to(model.device), lengths.to(model.device))
        per_sentence[indices] = out.rec.double().cpu().numpy()
    model.train(was_training)
    return _nll_summary(per_sentence, split, "exact", None)


def _length_batches(lengths: np.ndarray, rows: int, max_tokens: int) -> list[np.ndarray]:
    """Length-sorted index batches with at most `rows` sentences and ~`max_tokens` padded targets."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        size = min(rows, len(order) - start)
        while size > 1 and size * (lengths[order[start + size - 1]] + 1) > max_tokens:
            size = max(1, size // 2)
        batches.append(order[start: start + size])
        start += size
    return batches


def _sentence_generator(seed: int, index) -> torch.Generator:
    """A generator for one sentence, seeded from (seed, index) mixed into torch's 32-bit seed."""
    mixed = np.random.SeedSequence([seed, int(index)]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(mixed))


@torch.no_grad()
def importance_weighted_nll(model, split: EncodedSplit, k: int = 100, batch_size: int = 256,
                            seed: int = 0, max_tokens: int = 8192, echo: Echo | None = None) -> dict:
    """Importance-weighted NLL (Burda et al. 2016) with K posterior samples per sentence.

        -log p(x) ~= -log (1/K) sum_k exp(log p(x | z_k) + log p(z_k) - log q(z_k | x)),  z_k ~ q(z | x)

    An upper bound on -log p(x) that tightens (in expectation) as K grows; with K = 1 it is the
    negative ELBO in expectation. The K samples are scored in batches: each sentence's row is
    repeated, so one decoder pass sees up to `batch_size` rows (sentences x samples) and about
    `max_tokens` targets, which bounds memory (the (N, V) logits) whatever K is.
    Returns per-sentence / per-token NLL, perplexity, and the per-sentence values (numpy).
    """
    if model.encoder is None:
        raise ArgumentError("importance_weighted_nll needs a latent; use exact_nll for a language model")
    if k < 1:
        raise ArgumentError(f"the number of importance samples must be >= 1, got {k}")
    was_training = model.training
    model.eval()
    device, latent = model.device, model.cfg.latent_dim
    per_sentence = np.zeros(len(split))
    order = np.argsort(split.lengths, kind="stable")
    started, state, done, done_targets, start = time.perf_counter(), {}, 0, 0, 0
    while start < len(order):
        # Rows that fit in one pass for sentences this long, then how many sentences share a pass.
        longest_guess = split.lengths[order[min(start + max(1, batch_size // k), len(order)) - 1]] + 1
        rows = max(1, min(batch_size, max_tokens // int(longest_guess)))
        indices = order[start: start + max(1, rows // k)]
        tokens, lengths = collate(split.batch_ids(indices))
        tokens, lengths = tokens.to(device), lengths.to(device)
        mu, logvar = model.posterior(tokens, lengths)  # (S, Z) each
        mu, logvar = mu.float(), logvar.float()
        sentences = len(indices)
        # Each sentence's K draws come from its own generator (seeded by `seed` and its index), so
        # a sentence's estimate does not depend on the batching or on the other sentences.
        noise = torch.stack([torch.randn(k, latent, generator=_sentence_generator(seed, i))
                             for i in indices], dim=1).to(device)  # (K, S, Z)
        passes = math.ceil(k / max(1, rows // sentences))
        per_pass = math.ceil(k / passes)  # samples per decoder pass, spread evenly over the passes
        log_weights = []
        for first in range(0, k, per_pass):
            n = min(per_pass, k - first)
            eps = noise[first: first + n]  # (n, S, Z)
            z = mu + eps * torch.exp(0.5 * logvar)  # (n, S, Z)
            # Row r of the pass is sample r // S of sentence r % S.
            out = model(tokens.repeat(n, 1), lengths.repeat(n), z=z.reshape(n * sentences, latent))
            log_px_z = -out.rec.view(n, sentences)  # (n, S)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)  # (n, S)
            log_qz_x = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)  # (n, S)
            log_weights.append((log_px_z + log_pz - log_qz_x).double())
        log_weights = torch.cat(log_weights)  # (K, S)
        log_px = torch.logsumexp(log_weights, dim=0) - math.log(k)  # (S,)
        per_sentence[indices] = -log_px.cpu().numpy()
        start += sentences
        done += sentences
        done_targets += int(lengths.sum())
        _progress(echo, f"IW-NLL (K={k})", done, len(order), done_targets / split.num_targets, started, state)
    model.train(was_training)
    return _nll_summary(per_sentence, split, "importance-weighted", k)


# --- the latent space ---------------------------------------------------------------------------

def mutual_information(model, split: EncodedSplit, batch_size: int = 32, seed: int = 0,
                       aggregate: str = "batch", posterior: tuple | None = None) -> float:
    """I(x; z) under the encoder's joint q(x, z) = p_data(x) q(z | x), as He et al. (2019).

        I = E_x[ E_q(z|x) log q(z | x) ] - E_x E_q(z|x) [ log q(z) ]

    The first term is the analytic negative entropy of each Gaussian posterior. The second draws
    one z per sentence and evaluates the aggregate posterior q(z) as the mixture of the posteriors
    of the sentences in the same batch (`aggregate="batch"`: length-sorted batches of
    `batch_size`, He et al.'s test batches of 32, averaged weighted by batch size) or of the whole
    split (`aggregate="all"`). The batch estimate cannot exceed log(batch_size).
    """
    if aggregate not in ("batch", "all"):
        raise ArgumentError(f"aggregate must be 'batch' or 'all', got {aggregate!r}")
    mu, logvar = posterior if posterior is not None else posterior_parameters(model, split)
    mu, logvar = mu.double(), logvar.double()
    generator = torch.Generator().manual_seed(seed)
    z = mu + torch.randn(mu.shape, generator=generator, dtype=torch.float64) * torch.exp(0.5 * logvar)
    neg_entropy = -0.5 * (1.0 + logvar + LOG_2PI).sum(-1)  # (N,) E_q(z|x) log q(z|x)
    groups = (sorted_batches(split.lengths, batch_size) if aggregate == "batch"
              else [np.arange(len(split))])
    log_qz = torch.empty(len(split), dtype=torch.float64)
    for group in groups:
        index = torch.from_numpy(group)
        members_mu, members_logvar = mu[index], logvar[index]  # (b, Z)
        chunk = max(1, 2_000_000 // max(1, len(group) * mu.size(1)))
        for first in range(0, len(group), chunk):
            rows = index[first: first + chunk]
            # (r, 1, Z) against (1, b, Z) -> (r, b): log q(z_i | x_j) for every member j
            density = _diagonal_gaussian_log_density(z[rows].unsqueeze(1), members_mu.unsqueeze(0),
                                                     members_logvar.unsqueeze(0))
            log_qz[rows] = torch.logsumexp(density, dim=1) - math.log(len(group))
    return float((neg_entropy - log_qz).mean())


def active_units(model, split: EncodedSplit, threshold: float = 0.01,
                 posterior: tuple | None = None) -> dict:
    """Active units (Burda et al. 2016): dimensions d with Var_x(E_q(z|x)[z_d]) > threshold.

    Returns {"active_units": count, "latent_dim": Z, "variances": [Var_x mu_d for each d]}.
    """
    mu, _ = posterior if posterior is not None else posterior_parameters(model, split)
    variances = mu.double().var(dim=0, unbiased=True) if len(mu) > 1 else torch.zeros(mu.size(1))
    return {"active_units": int((variances > threshold).sum()), "latent_dim": int(mu.size(1)),
            "variances": variances.tolist()}


def kl_per_dimension(model, split: EncodedSplit, posterior: tuple | None = None) -> list[float]:
    """Average KL(q(z_d | x) || N(0, 1)) over the split, for each latent dimension d."""
    mu, logvar = posterior if posterior is not None else posterior_parameters(model, split)
    return gaussian_kl(mu.double(), logvar.double()).mean(0).tolist()


# --- text quality -------------------------------------------------------------------------------

def reconstruction_bleu(vae: VAEPipeline, split: EncodedSplit, posterior: tuple | None = None,
                        max_sentences: int | None = None, batch_size: int = 256) -> dict:
    """Corpus BLEU (0-100) of greedy decodes of the posterior means against the input sentences.

    References are the inputs as the model sees them (its tokens, `<unk>` for unknown words).
    """
    mu, _ = posterior if posterior is not None else posterior_parameters(vae.model, split)
    chosen = np.arange(len(split))
    if max_sentences is not None and max_sentences < len(split):
        chosen = np.random.default_rng(0).choice(len(split), size=max_sentences, replace=False)
    order = chosen[np.argsort(split.lengths[chosen], kind="stable")]  # similar lengths decode together
    references = [vae.tokenizer.decode(ids) for ids in split.batch_ids(order)]
    longest = int(split.lengths.max())
    greedy = DecodingOptions("greedy", max_length=max(longest, vae.cfg.max_length))
    generations = vae.generate(mu[torch.from_numpy(order)], greedy, batch_size=batch_size)
    hypotheses = [g.text for g in generations]
    sacrebleu_logger = logging.getLogger("sacrebleu")
    level = sacrebleu_logger.level
    sacrebleu_logger.setLevel(logging.ERROR)  # it warns that the texts look tokenised: they are
    try:
        bleu = corpus_bleu(hypotheses, references)
    finally:
        sacrebleu_logger.setLevel(level)
    exact = sum(h == r for h, r in zip(hypotheses, references)) / len(references)
    return {"reconstruction_bleu": bleu,
            "reconstruction_exact_match": exact, "reconstruction_sentences": len(references),
            "examples": [{"input": r, "output": h} for r, h in zip(references[::max(1, len(order) // 5)],
                                                                 hypotheses[::max(1, len(order) // 5)])][:5]}


def prior_sample_diversity(vae: VAEPipeline, n: int = 1000, seed: int = 0, strategy: str | None = None,
                           self_bleu_sentences: int = 500) -> dict:
    """Distinct-1/2 and self-BLEU of `n` sentences decoded from the prior.

    A VAE decodes z ~ N(0, I) greedily; a language model (no z, so greedy would repeat one
    sentence) samples ancestrally. Self-BLEU scores at most `self_bleu_sentences` hypotheses
    against all the other samples.
    """
    strategy = strategy or ("greedy" if vae.cfg.has_latent else "sample")
    texts = [g.text for g in vae.sample(n, DecodingOptions(strategy), seed=seed)]
    return {"prior_samples": n, "prior_strategy": strategy,
            "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
            "self_bleu": self_bleu(texts, max_sentences=self_bleu_sentences),
            "unique_samples": len(set(texts)) / max(1, len(texts)),
            "sample_examples": texts[:5]}


# --- everything ---------------------------------------------------------------------------------

def evaluate(vae: VAEPipeline, split: EncodedSplit, iw_samples: int = 100, batch_size: int = 256, seed: int = 0,
             prior_samples: int = 1000, mi_batch_size: int = 32, au_threshold: float = 0.01,
             bleu_sentences: int | None = None, echo: Echo | None = None) -> dict:
    """All metrics of a model on a split as one JSON-ready dict (see `format_table`).

    For a model without a latent (the language-model baseline) the NLL is exact and the latent
    metrics (KL, mutual information, active units, reconstruction BLEU) are None (not applicable).
    `prior_samples=0` skips the prior-sample diversity metrics.
    """
    for name, value, least in (("batch_size", batch_size, 1), ("iw_samples", iw_samples, 1),
                               ("prior_samples", prior_samples, 0), ("mi_batch_size", mi_batch_size, 1)):
        if value < least:
            raise ArgumentError(f"{name} must be >= {least}, got {value}")
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
    if has_latent:
        nll = timed("iw_nll", importance_weighted_nll, model, split, k=iw_samples,
                    batch_size=batch_size, seed=seed, echo=echo)
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
                             max_sentences=bleu_sentences))
    if prior_samples > 0:
        results.update(timed("prior_samples", prior_sample_diversity, vae, n=prior_samples, seed=seed))
    results["seconds"] = seconds
    model.train(was_training)
    return results


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def format_table(results: dict) -> str:
    """A readable two-column table of `evaluate`'s results (n/a: not applicable to the model)."""
    latent = results["latent"]
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
        ("reconstruction BLEU (posterior mean, greedy)", _fmt(results["reconstruction_bleu"])),
    ]
    if "distinct_1" in results:
        n, strategy = results["prior_samples"], results["prior_strategy"]
        rows += [(f"prior samples ({n:,}, {strategy}): distinct-1", _fmt(results["distinct_1"], 3)),
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
           "importance_weighted_nll", "mutual_information", "active_units", "kl_per_dimension",
           "reconstruction_bleu", "prior_sample_diversity", "evaluate", "format_table", "TOKEN_NOTE"]

"""Likelihoods of a corpus under a model: the bound training validates with, and NLL estimates.

    evaluate_bound           -ELBO at beta = 1 (one posterior sample) = reconstruction NLL + KL
    importance_weighted_nll  -log (1/K) sum_k p(x, z_k) / q(z_k | x)   (Burda et al. 2016)
    importance_weighted_nlls the same under several priors p(z), on the same draws and decoder passes
    exact_nll                the language-model baseline's exact NLL (no latent to integrate out)

Units: nats, per sentence (summed over its targets: the words and `<eos>`) and per target token.
Every random draw comes from a seeded generator of its own; the global RNG is never touched.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch

from .data import EncodedSplit, collate, iterate, sorted_batches
from .errors import ArgumentError
from .objective import LOG_2PI, gaussian_kl
from .prior import standard_normal_log_prob

Echo = Callable[[str], None]


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


def importance_weighted_nll(model, split: EncodedSplit, k: int = 100, batch_size: int = 256,
                            seed: int = 0, max_tokens: int = 8192, echo: Echo | None = None,
                            prior=None) -> dict:
    """Importance-weighted NLL (Burda et al. 2016) with K posterior samples per sentence.

        -log p(x) ~= -log (1/K) sum_k exp(log p(x | z_k) + log p(z_k) - log q(z_k | x)),  z_k ~ q(z | x)

    An upper bound on -log p(x) that tightens (in expectation) as K grows; with K = 1 it is the
    negative ELBO in expectation. The K samples are scored in batches: each sentence's row is
    repeated, so one decoder pass sees up to `batch_size` rows (sentences x samples) and about
    `max_tokens` targets, which bounds memory (the (N, V) logits) whatever K is.
    `prior` (a `prior.GaussianMixture`, or None for N(0, I)) is the p(z) of the model: a fitted
    prior makes another generative model, with the same decoder, and its own NLL.
    Returns per-sentence / per-token NLL, perplexity, and the per-sentence values (numpy).
    """
    return importance_weighted_nlls(model, split, {"nll": prior}, k=k, batch_size=batch_size, seed=seed,
                                    max_tokens=max_tokens, echo=echo)["nll"]


@torch.no_grad()
def importance_weighted_nlls(model, split: EncodedSplit, priors: dict, k: int = 100, batch_size: int = 256,
                             seed: int = 0, max_tokens: int = 8192, echo: Echo | None = None) -> dict[str, dict]:
    """`importance_weighted_nll` under several priors p(z) at the cost of one: {name: prior or None
    (N(0, I))} -> {name: its result}. The priors share the draws z_k ~ q(z | x) and the decoder's
    log p(x | z_k), which is nearly all the work; only log p(z_k) differs. Each prior's figures
    are those `importance_weighted_nll(..., prior=...)` gives with the same seed.
    """
    if model.encoder is None:
        raise ArgumentError("importance_weighted_nll needs a latent; use exact_nll for a language model")
    if k < 1:
        raise ArgumentError(f"the number of importance samples must be >= 1, got {k}")
    if not priors:
        raise ArgumentError("importance_weighted_nlls needs at least one prior")
    was_training = model.training
    model.eval()
    device, latent = model.device, model.cfg.latent_dim
    per_sentence = {name: np.zeros(len(split)) for name in priors}
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
        log_weights = {name: [] for name in priors}
        for first in range(0, k, per_pass):
            n = min(per_pass, k - first)
            eps = noise[first: first + n]  # (n, S, Z)
            z = mu + eps * torch.exp(0.5 * logvar)  # (n, S, Z)
            # Row r of the pass is sample r // S of sentence r % S.
            out = model(tokens.repeat(n, 1), lengths.repeat(n), z=z.reshape(n * sentences, latent))
            log_px_z = -out.rec.view(n, sentences)  # (n, S)
            log_qz_x = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)  # (n, S)
            for name, prior in priors.items():
                log_pz = standard_normal_log_prob(z) if prior is None else prior.log_prob(z)  # (n, S)
                log_weights[name].append((log_px_z + log_pz - log_qz_x).double())
        for name, weights in log_weights.items():
            log_px = torch.logsumexp(torch.cat(weights), dim=0) - math.log(k)  # (S,) from (K, S)
            per_sentence[name][indices] = -log_px.cpu().numpy()
        start += sentences
        done += sentences
        done_targets += int(lengths.sum())
        _progress(echo, f"IW-NLL (K={k})", done, len(order), done_targets / split.num_targets, started, state)
    model.train(was_training)
    return {name: _nll_summary(values, split, "importance-weighted", k) for name, values in per_sentence.items()}

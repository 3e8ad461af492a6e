"""The latent space of a corpus: posterior parameters and whether the code is used.

    posterior_parameters     mu, logvar of q(z | x) for every sentence
    mutual_information       I(x; z) under q, the estimator of He et al. (2019)
    active_units             dimensions with Cov_x E[z | x] > 0.01 (Burda et al. 2016)
    kl_per_dimension         average KL(q(z_d | x) || N(0, 1)) of each dimension
    fit_code_prior           a mixture fitted to posterior draws of the training codes (prior.py)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .data import EncodedSplit, collate, sorted_batches
from .errors import ArgumentError
from .objective import LOG_2PI, diagonal_gaussian_log_density, gaussian_kl
from .prior import (COMPONENT_CHOICES, FULL_COMPONENT_CHOICES, GaussianMixture, choose_mixture,
                    standard_normal_log_prob)


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
            density = diagonal_gaussian_log_density(z[rows].unsqueeze(1), members_mu.unsqueeze(0),
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


def posterior_draws(model, split: EncodedSplit, seed: int = 0) -> torch.Tensor:
    """One draw z ~ q(z | x) per sentence of the split (N, Z), seeded (the global RNG is untouched)."""
    mu, logvar = posterior_parameters(model, split)
    noise = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))
    return mu + noise * torch.exp(0.5 * logvar)


def _at_most(split: EncodedSplit, count: int, seed: int) -> EncodedSplit:
    """A seeded random subset of `count` sentences of the split (the split itself if smaller)."""
    if len(split) <= count:
        return split
    chosen = np.sort(np.random.default_rng(seed).choice(len(split), size=count, replace=False))
    return split.subset(chosen)


def fit_code_prior(model, train_split: EncodedSplit, valid_split: EncodedSplit, seed: int = 0,
                   choices: tuple[int, ...] = COMPONENT_CHOICES, max_train_codes: int = 20_000,
                   max_valid_codes: int = 5_000,
                   full_choices: tuple[int, ...] = FULL_COMPONENT_CHOICES) -> tuple[GaussianMixture, dict]:
    """A Gaussian mixture fitted to one posterior draw of every training sentence, its number
    of components (`choices` with diagonal covariances, `full_choices` with full ones) chosen by
    the mean log-likelihood of the validation sentences' draws.

    Draws rather than means: the mixture approximates the aggregate posterior
    q(z) = E_x q(z | x), the distribution the decoder was trained to read codes from.
    At most `max_train_codes` / `max_valid_codes` sentences (a seeded random subset) are
    encoded: a mixture of at most 64 components over a few dozen dimensions is well determined
    by 20,000 codes, and a corpus of millions would otherwise cost minutes and gigabytes.
    Returns (mixture, report) with the validation log-likelihood per K and of N(0, I).
    """
    train_split = _at_most(train_split, max_train_codes, seed)
    valid_split = _at_most(valid_split, max_valid_codes, seed + 1)
    train_codes = posterior_draws(model, train_split, seed)
    valid_codes = posterior_draws(model, valid_split, seed + 1)
    mixture, scores = choose_mixture(train_codes, valid_codes, choices, seed, full_choices)
    standard = float(standard_normal_log_prob(valid_codes.double()).mean())
    report = {"components": mixture.components, "covariance": mixture.covariance,
              "chosen": mixture.label, "valid_log_likelihood": scores,
              "valid_log_likelihood_standard_normal": standard,
              "train_codes": len(train_codes), "valid_codes": len(valid_codes)}
    return mixture, report

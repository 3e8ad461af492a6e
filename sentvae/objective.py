"""The training objective as pure functions: Gaussian KL, KL-weight schedules, free bits, loss.

All quantities are in nats. Reconstruction NLL is summed over a sentence's targets (its words and
`<eos>`) and averaged over sentences; per-token figures divide by the number of targets.
"""

from __future__ import annotations

import math

import torch

from .config import TrainConfig

LOG_2PI = math.log(2 * math.pi)


def diagonal_gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension (broadcasting)."""
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + LOG_2PI).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per dimension: (B, Z) -> (B, Z)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def free_bits_kl(kl_per_dim: torch.Tensor, threshold: float) -> torch.Tensor:
    """Free bits (Kingma et al. 2016): sum over dimensions of max(lambda, batch-mean KL_d).

    kl_per_dim (B, Z) -> scalar. Dimensions whose batch-averaged KL is below `threshold` get no
    gradient pushing them further towards the prior. With threshold 0 it is the mean summed KL.
    """
    per_dim = kl_per_dim.mean(dim=0)  # (Z,)
    if threshold > 0:
        per_dim = per_dim.clamp(min=threshold)
    return per_dim.sum()


# --- KL-weight schedules: pure functions of the step -----------------------------------------

def constant_schedule(step: int, beta: float = 1.0) -> float:
    return beta


def linear_schedule(step: int, warmup_steps: int, beta: float = 1.0) -> float:
    """0 at step 0, rising linearly to `beta` at `warmup_steps`, then flat."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


def logistic_schedule(step: int, k: float, x0: float, beta: float = 1.0) -> float:
    """Bowman et al. (2016): beta / (1 + exp(-k (step - x0)))."""
    return beta / (1.0 + math.exp(-k * (step - x0)))


def cyclical_schedule(step: int, total_steps: int, cycles: int, rise: float = 0.5,
                      zero: float = 0.0, beta: float = 1.0) -> float:
    """Fu et al. (2019): `cycles` cycles over `total_steps`; in each, hold 0 for a `zero` fraction,
    rise linearly to `beta` over a `rise` fraction, then hold `beta` for the rest."""
    period = max(1.0, total_steps / cycles)
    position = (step % period) / period  # in [0, 1)
    if position < zero:
        return 0.0
    return beta * min(1.0, (position - zero) / rise)


def kl_ramp_end(cfg: TrainConfig) -> float:
    """The step at which the KL schedule reaches (99% of) beta: the linear warm-up's length, or
    the logistic curve's x0 + ln(99) / k. Constant and cyclical schedules have no single ramp."""
    if cfg.kl_schedule == "linear":
        return float(cfg.kl_warmup_steps)
    if cfg.kl_schedule == "logistic":
        return cfg.logistic_x0 + math.log(99.0) / cfg.logistic_k
    return 0.0


def kl_weight(step: int, cfg: TrainConfig, total_steps: int, horizon: int | None = None) -> float:
    """The KL weight (beta) at `step` for the schedule configured in `cfg`.

    `horizon` is the number of steps the run is now expected to take when that is fewer than
    `total_steps`: under a `train.max_minutes` budget `train()` re-estimates at every log step
    what fits. Then the schedule follows the budget: a linear or logistic ramp that would end
    after half of the expected steps is compressed to end there, and the cycles of the cyclical
    schedule span the expected steps, so a budgeted run reaches its target beta.
    """
    budgeted = horizon is not None and horizon < total_steps
    if cfg.kl_schedule == "constant":
        return constant_schedule(step, cfg.beta)
    ramp_end = kl_ramp_end(cfg)
    scale = min(1.0, 0.5 * max(horizon, 1) / ramp_end) if budgeted and ramp_end > 0 else 1.0
    if cfg.kl_schedule == "linear":
        warmup = cfg.kl_warmup_steps if scale == 1.0 else max(1, round(cfg.kl_warmup_steps * scale))
        return linear_schedule(step, warmup, cfg.beta)
    if cfg.kl_schedule == "logistic":
        return logistic_schedule(step, cfg.logistic_k / scale, cfg.logistic_x0 * scale, cfg.beta)
    if cfg.kl_schedule == "cyclical":
        span = max(horizon, 1) if budgeted else total_steps
        return cyclical_schedule(step, span, cfg.cycles, cfg.cycle_rise, cfg.cycle_zero, cfg.beta)
    raise ValueError(f"unknown kl_schedule {cfg.kl_schedule!r}")


def learning_rate(step: int, cfg: TrainConfig, total_steps: int) -> float:
    """Linear warm-up to `lr`, then cosine / linear decay to `lr * min_lr_ratio`, or constant."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    span = max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.lr_schedule == "linear":
        return cfg.lr - (cfg.lr - floor) * progress
    return floor + 0.5 * (cfg.lr - floor) * (1.0 + math.cos(math.pi * progress))


def validation_loss(metrics: dict, cfg: TrainConfig) -> float:
    """What picks the best checkpoint and drives early stopping (`train.patience`): the validation
    value of the objective the run minimises, at its target beta, from `evaluate_bound`'s metrics:

        -ELBO = rec + KL          a VAE at beta = 1 (the default): the bound itself
        rec + beta * KL           beta != 1; rec alone for an autoencoder (beta = 0)
        rec + beta * |KL - C|     a target rate C = `kl_target`

    Free bits and the MMD term are left out: they shape the optimisation, not what is wanted.
    Selecting on -ELBO when beta != 1 or C > 0 would prefer the early checkpoints whose KL was
    still low (for an autoencoder, the first one).
    """
    if cfg.kl_target <= 0 and cfg.beta == 1.0:
        return metrics["neg_elbo_per_sentence"]
    kl = metrics["kl_per_sentence"]
    return metrics["rec_per_sentence"] + cfg.beta * (abs(kl - cfg.kl_target) if cfg.kl_target > 0 else kl)


MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # kernel widths, in units of 2 Z (Tolstikhin et al.)


def prior_mmd(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of MMD^2 between the batch's codes z (B, Z) and as many draws from
    N(0, I) `prior` (B, Z) -> scalar, with a sum of inverse multiquadric kernels
    k(a, b) = c / (c + |a - b|^2), c = 2 Z s for s in MMD_SCALES (Tolstikhin et al. 2018).

    0 in expectation when the codes' distribution (the aggregate posterior q(z)) is N(0, I);
    it does not look at any one sentence's posterior, so it leaves the rate free.
    """
    rows, dim = z.shape
    if rows < 2:
        return z.new_zeros(())
    both = torch.cat([z, prior.to(z.dtype)])  # (2B, Z)
    squared = torch.cdist(both, both).pow(2)  # (2B, 2B)
    kernel = sum(2 * dim * s / (2 * dim * s + squared) for s in MMD_SCALES)  # (2B, 2B)
    off_diagonal = 1.0 - torch.eye(rows, dtype=z.dtype, device=z.device)
    within_codes = (kernel[:rows, :rows] * off_diagonal).sum() / (rows * (rows - 1))
    within_prior = (kernel[rows:, rows:] * off_diagonal).sum() / (rows * (rows - 1))
    across = kernel[:rows, rows:].mean()
    return within_codes + within_prior - 2 * across


def vae_loss(rec: torch.Tensor, kl_per_dim: torch.Tensor | None, beta: float,
             free_bits: float = 0.0, kl_target: float = 0.0, mmd: torch.Tensor | None = None,
             mmd_weight: float = 0.0, bow: torch.Tensor | None = None,
             bow_weight: float = 0.0) -> torch.Tensor:
    """Training loss per sentence: rec (B,) reconstruction NLL, kl (B, Z) per dimension.

        loss = mean(rec) + beta * KL                  (KL with free bits, `free_bits_kl`)
        loss = mean(rec) + beta * |KL - C|            with a target rate C = `kl_target` > 0
             (+ mmd_weight * MMD^2(q(z), N(0, I)))    with `mmd` = `prior_mmd` of the batch
             (+ bow_weight * mean(bow))               with `bow` (B,) the bag-of-words NLL

    The target rate (Burgess et al. 2018) pulls the KL towards C nats per sentence from either
    side: a code that carries less than C is pushed to carry more, which beta < 1 alone does not
    do (it only weakens the pull towards the prior). The MMD term (InfoVAE, Zhao et al. 2019;
    WAE, Tolstikhin et al. 2018) pulls the distribution of all codes towards the prior, so that
    prior samples decode well from a model whose codes carry many nats.
    """
    loss = rec.mean()
    if kl_per_dim is not None:
        kl = free_bits_kl(kl_per_dim, free_bits)
        loss = loss + beta * ((kl - kl_target).abs() if kl_target > 0 else kl)
    if mmd is not None and mmd_weight > 0:
        loss = loss + mmd_weight * mmd
    if bow is not None and bow_weight > 0:
        loss = loss + bow_weight * bow.mean()
    return loss

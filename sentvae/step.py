"""One optimisation step, as a function: what `train()`, the throughput benchmark and the tests run.

    noise = step_noise(seed, step, batch_rows, latent_dim, longest + 1)
    result = train_step(model, optimizer, tokens, lengths, noise.rows(mine), beta=..., lr=...)

`train_step` sets the learning rate, runs the forward pass (under bf16 autocast when asked),
computes the loss (objective.vae_loss), backpropagates, clips the gradient norm and steps the
optimizer. It raises `NonFiniteStep` before anything is updated when the loss or the gradient
norm is NaN or infinite, so a caller's weights stay those of the last good step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .noise import ENCODER_NOISE_CHANNELS
from .objective import gaussian_kl, prior_mmd, vae_loss


class NonFiniteStep(ArithmeticError):
    """The step's loss or gradient norm was NaN or infinite; nothing was updated."""


@dataclass
class StepResult:
    """What one step measured (tensors are detached)."""

    loss: torch.Tensor  # () training loss per sentence: mean rec + beta * (free-bits) KL
    rec: torch.Tensor  # (B,) reconstruction NLL per sentence
    kl: torch.Tensor | None  # (B, Z) KL per sentence and dimension; None without a latent
    grad_norm: torch.Tensor  # () gradient norm before clipping
    tokens: int  # decoder targets in the batch (words + <eos>)
    mmd: torch.Tensor | None = None  # () MMD^2 of the codes to N(0, I), when train.mmd_weight > 0


class StepNoise(NamedTuple):
    """The random draws of one training step (rows = sentences of the batch)."""

    eps: torch.Tensor  # (G, Z) N(0, 1) for the reparameterisation
    word_uniform: torch.Tensor  # (G, length) U(0, 1) for the decoder's word dropout
    encoder_uniform: torch.Tensor | None = None  # (G, length, 3) U(0, 1) for the encoder-input noise
    prior: torch.Tensor | None = None  # (G, Z) N(0, I) draws the codes are compared with (train.mmd_weight)

    def rows(self, rows: slice) -> "StepNoise":
        """This process's rows of the global batch's draws."""
        return StepNoise(*(None if draws is None else draws[rows] for draws in self))


def step_noise(seed: int, step: int, batch: int, latent_dim: int, length: int,
               encoder_noise: bool = False, prior_draws: bool = False) -> StepNoise:
    """The random draws of one training step for the *global* batch (see `StepNoise`); the
    encoder-input draws only when `encoder_noise`, the prior draws only when `prior_draws`
    (they come after the others, so turning either on does not change the other draws). A pure
    function of (seed, step), identical on every rank, so that resumption and any number of
    processes see the same noise."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    eps = torch.randn(batch, max(latent_dim, 1), generator=generator)[:, :latent_dim]
    uniform = torch.rand(batch, length, generator=generator)
    encoder = (torch.rand(batch, length, ENCODER_NOISE_CHANNELS, generator=generator)
               if encoder_noise else None)
    prior = torch.randn(batch, latent_dim, generator=generator) if prior_draws and latent_dim else None
    return StepNoise(eps, uniform, encoder, prior)


def build_optimizer(model: torch.nn.Module, lr: float = 1e-3, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW over the model's parameters, with PyTorch's fused kernel on CPU and CUDA.

    `weight_decay` defaults to `TrainConfig.weight_decay`'s default (0). The fused kernel does the
    same update as the default per-parameter loop (tests/test_step.py checks the parameters agree
    after several steps) in one pass over each tensor instead of about ten: at the anchor size of
    benchmarks/throughput.py the loop took about a quarter of a training step, mostly on the two
    dense 10k-row embedding tables.
    """
    parameters = [p for p in model.parameters() if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in parameters)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=fused or None)


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast is the faster arithmetic on `device`: a GPU that supports it, or a
    CPU with bf16 instructions (AVX512_BF16 or AMX). CPUs without them emulate bf16 and train
    slower than in float32 (see the README's Speed section, which also gives its accuracy A/B)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence getattr
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, tokens: torch.Tensor,
               lengths: torch.Tensor, noise: StepNoise, *, beta: float,
               lr: float, free_bits: float = 0.0, kl_target: float = 0.0, mmd_weight: float = 0.0,
               grad_clip: float = 0.0, bf16: bool = False,
               loss_scale: float = 1.0, check_loss: bool = True) -> StepResult:
    """One optimisation step on a batch; returns what it measured.

    model      a `SentenceVAE`, or the `DistributedDataParallel` wrapper around one
    tokens     (B, T+2) and lengths (B,), on the model's device (layout: model.py)
    noise      this batch's rows of `step_noise` (`StepNoise.rows`)
    beta, lr   the KL weight and learning rate of this step (objective.kl_weight / learning_rate)
    free_bits, kl_target   the KL floor per dimension and the target rate (objective.vae_loss)
    mmd_weight the weight of the codes' MMD to N(0, I), against `noise.prior` (objective.prior_mmd)
    grad_clip  clip the gradient norm to this (0: measure it only)
    loss_scale multiplies the loss before backpropagation: with DDP, which averages gradients over
               processes, each process's share of the global batch (rows * world / global rows)
    check_loss raise `NonFiniteStep` on a NaN loss before backpropagating (with DDP every process
               must take part in the backward pass, so the gradient-norm check catches it there)
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    # The last step's gradients go before the forward pass, not after it: the forward pass's peak
    # (every saved activation, and the output layer's gradients, cross_entropy.py) then does not
    # also hold a gradient for every parameter.
    optimizer.zero_grad(set_to_none=True)
    device_type = tokens.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        out = model(tokens, lengths, eps=noise.eps, drop_uniform=noise.word_uniform,
                    encoder_uniform=noise.encoder_uniform)
    kl = gaussian_kl(out.mu.float(), out.logvar.float()) if out.mu is not None else None
    mmd = (prior_mmd(out.z.float(), noise.prior) if mmd_weight > 0 and out.z is not None
           and noise.prior is not None else None)
    bow_weight = getattr(model, "module", model).cfg.bow_weight  # model.bag_of_words_nll
    loss = vae_loss(out.rec, kl, beta, free_bits, kl_target, mmd, mmd_weight, out.bow, bow_weight)
    if check_loss and not torch.isfinite(loss):
        raise NonFiniteStep(f"the loss became {float(loss.detach())}")
    (loss * loss_scale).backward()
    clip = grad_clip if grad_clip > 0 else math.inf  # inf: measure only
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    if not torch.isfinite(grad_norm):
        raise NonFiniteStep(f"the gradient norm became {float(grad_norm)}")
    optimizer.step()
    return StepResult(loss=loss.detach(), rec=out.rec.detach(),
                      kl=None if kl is None else kl.detach(), grad_norm=grad_norm.detach(),
                      tokens=int(lengths.sum()), mmd=None if mmd is None else mmd.detach())

"""Decoding latent codes into sentences, batched over codes.

Strategies: `greedy`; `sample` (temperature, top-k, top-p). Every strategy runs on a whole batch
of codes at once, stops as soon as every sequence has produced `<eos>`, and is reproducible with
`seed`. Each result carries its log-probability under the decoder (the unmodified distribution:
temperature, truncation and `<unk>` suppression change the choice, not the score).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .errors import ArgumentError
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID

STRATEGIES = ("greedy", "sample")


@dataclass
class Generation:
    """One decoded sentence."""

    text: str
    ids: list[int]  # word ids, without <bos>/<eos>
    logprob: float  # log p(ids, <eos> | z) under the decoder, in nats
    strategy: str
    z: list[float] | None = None  # the latent code it was decoded from
    position: float | None = None  # interpolation: 0 = first sentence, 1 = second
    source: str | None = None  # reconstruction: the input sentence
    extra: dict = field(default_factory=dict)


def _filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Keep the top-k and/or the smallest nucleus with mass >= top_p; logits (B, V)."""
    if top_k and top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) >= top_p  # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


@torch.no_grad()
def _decode_batch(model, z: torch.Tensor | None, batch: int, strategy: str, max_length: int,
                  temperature: float, top_k: int, top_p: float, suppress_unk: bool,
                  generator: torch.Generator | None) -> tuple[list[list[int]], list[float]]:
    decoder = model.decoder
    device = model.device
    hidden = decoder.initial_hidden(z, batch)  # (layers, B, H)
    tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    logprob = torch.zeros(batch, device=device)
    steps = []
    for _ in range(max_length + 1):  # max_length words, then a forced stop
        logits, hidden = decoder.step(tokens, hidden, z)
        logits = logits.float()  # (B, V)
        log_probs = F.log_softmax(logits, dim=-1)
        choice_logits = logits.clone()
        choice_logits[:, [PAD_ID, BOS_ID]] = float("-inf")
        if suppress_unk:
            choice_logits[:, UNK_ID] = float("-inf")
        if strategy == "greedy":
            next_tokens = choice_logits.argmax(dim=-1)
        else:
            filtered = _filter_logits(choice_logits / max(temperature, 1e-6), top_k, top_p)
            next_tokens = torch.multinomial(filtered.softmax(-1).cpu(), 1, generator=generator)[:, 0]
            next_tokens = next_tokens.to(device)
        step_logprob = log_probs.gather(1, next_tokens.unsqueeze(1))[:, 0]
        logprob += torch.where(finished, torch.zeros_like(step_logprob), step_logprob)
        next_tokens = next_tokens.masked_fill(finished, PAD_ID)
        steps.append(next_tokens)
        finished |= next_tokens == EOS_ID
        if bool(finished.all()):
            break
        tokens = next_tokens
    ids = torch.stack(steps, dim=1).tolist()  # (B, steps)
    sequences = []
    for row in ids:
        words = []
        for token in row:
            if token in (EOS_ID, PAD_ID):
                break
            words.append(token)
        sequences.append(words[:max_length])
    return sequences, logprob.tolist()


def decode(model, z: torch.Tensor | None, tokenizer, n: int | None = None,
           strategy: str = "greedy", temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           max_length: int | None = None, suppress_unk: bool = False, seed: int | None = None,
           batch_size: int = 256) -> list[Generation]:
    """Decode latent codes z (B, Z) (or `n` sentences from a model without a latent)."""
    if strategy not in STRATEGIES:
        raise ArgumentError(f"unknown strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
    if temperature <= 0:
        raise ArgumentError(f"temperature must be > 0, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ArgumentError(f"top_p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise ArgumentError(f"top_k must be >= 0, got {top_k}")
    if z is None and n is None:
        raise ArgumentError("decode needs latent codes z or a count n")
    total = z.size(0) if z is not None else n
    max_length = max_length or model.cfg.max_length
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    was_training = model.training
    model.eval()
    results = []
    for start in range(0, total, batch_size):
        chunk = None if z is None else z[start: start + batch_size].to(model.device)
        size = min(batch_size, total - start)
        sequences, logprobs = _decode_batch(model, chunk, size, strategy, max_length, temperature,
                                            top_k, top_p, suppress_unk, generator)
        for row, (ids, logprob) in enumerate(zip(sequences, logprobs)):
            code = None if chunk is None else chunk[row].tolist()
            results.append(Generation(tokenizer.decode(ids), ids, logprob, strategy, code))
    model.train(was_training)
    return results


def sample_prior(model, n: int, z_scale: float = 1.0, seed: int | None = None,
                 **strategy) -> list[Generation]:
    """Decode `n` codes z ~ N(0, z_scale^2 I)."""
    if n < 1:
        raise ArgumentError(f"the number of samples must be >= 1, got {n}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    z = None
    if model.cfg.has_latent:
        z = torch.randn(n, model.cfg.latent_dim, generator=generator) * z_scale
    seed_for_tokens = None if seed is None else seed + 1
    return model.generate(z, n=n, seed=strategy.pop("seed", seed_for_tokens), **strategy)


def reconstruct(model, texts: list[str], sample_z: bool = False, seed: int | None = None,
                **strategy) -> list[Generation]:
    """Encode sentences, decode their posterior mean (or a posterior sample)."""
    texts = list(texts)
    if not texts:
        return []
    mu, logvar = model.encode(texts)
    z = mu
    if sample_z:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        z = mu + torch.randn(mu.shape, generator=generator).to(mu.device) * torch.exp(0.5 * logvar)
    results = model.generate(z, seed=seed, **strategy)
    for result, text in zip(results, texts):
        result.source = text
    return results


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of directions with linearly interpolated norm; a, b (Z,)."""
    norm_a, norm_b = a.norm(), b.norm()
    if norm_a < 1e-8 or norm_b < 1e-8:
        return (1 - t) * a + t * b
    unit_a, unit_b = a / norm_a, b / norm_b
    omega = torch.arccos((unit_a * unit_b).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:
        direction = unit_a
    else:
        direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / torch.sin(omega)
        direction = direction / direction.norm()
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    return direction * ((1 - t) * norm_a + t * norm_b)


def path(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """`steps` points from a to b inclusive: (Z,), (Z,) -> (steps, Z)."""
    if steps < 2:
        raise ArgumentError(f"an interpolation needs at least 2 steps, got {steps}")
    if method not in ("linear", "slerp"):
        raise ArgumentError(f"unknown interpolation method {method!r} (expected linear or slerp)")
    points = []
    for i in range(steps):
        t = i / (steps - 1)
        points.append((1 - t) * a + t * b if method == "linear" else slerp(a, b, t))
    points[0], points[-1] = a.clone(), b.clone()
    return torch.stack(points)


def interpolate(model, first: str | None, second: str | None, steps: int = 8,
                method: str = "linear", prior: bool = False, seed: int | None = None,
                unique: bool = False, **strategy) -> list[Generation]:
    """Decode points between the posterior means of two sentences (or two prior draws)."""
    if not model.cfg.has_latent:
        raise ArgumentError("interpolation needs a model with a latent code")
    if prior:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        ends = torch.randn(2, model.cfg.latent_dim, generator=generator)
    else:
        ends, _ = model.encode([first, second])
    points = path(ends[0].cpu(), ends[1].cpu(), steps, method)
    results = model.generate(points, seed=seed, **strategy)
    for i, result in enumerate(results):
        result.position = i / (steps - 1)
    if unique:
        kept = [results[0]]
        for result in results[1:]:
            if result.text != kept[-1].text:
                kept.append(result)
        results = kept
    return results


__all__ = ["Generation", "decode", "sample_prior", "reconstruct", "interpolate", "path", "slerp",
           "STRATEGIES"]

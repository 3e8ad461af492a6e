"""The distribution latent codes are sampled from: N(0, I), or a mixture fitted to the codes.

A VAE trained to carry many nats in its code leaves regions of N(0, I) that no sentence maps to;
decoding from there gives poor sentences. Ex-post density estimation (Ghosh et al. 2020) fits a
density to where the codes actually are and samples from it instead:

    codes = posterior draws z ~ q(z | x) of the training sentences       (N, Z)
    mixture = choose_mixture(codes, valid_codes)     # K chosen by the validation log-likelihood
    mixture.sample(1000, generator)                   # (1000, Z)
    mixture.save(checkpoint / PRIOR_FILE)             # safetensors, next to the weights

The mixture has diagonal covariances and is fitted by EM from a k-means++ start, in torch
(float64). It is a valid density, so it also gives an importance-weighted NLL of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import ArgumentError, CheckpointError
from .objective import LOG_2PI

PRIOR_FILE = "prior.safetensors"
COMPONENT_CHOICES = (1, 2, 4, 8, 16, 32, 64)
MIN_VARIANCE = 1e-4  # floor of each component's variance: no component collapses on one code


@dataclass
class GaussianMixture:
    """A mixture of K diagonal Gaussians over Z dimensions."""

    log_weights: torch.Tensor  # (K,) log mixing proportions, logsumexp = 0
    means: torch.Tensor  # (K, Z)
    log_vars: torch.Tensor  # (K, Z)

    @property
    def components(self) -> int:
        return self.means.size(0)

    @property
    def dim(self) -> int:
        return self.means.size(1)

    def component_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(z; m_k, diag(v_k)) for every code and component: z (N, Z) -> (N, K)."""
        z = z.to(self.means.dtype)
        precision = (-self.log_vars).exp()  # (K, Z)
        # sum_d (z_d - m_kd)^2 / v_kd as matrix products: memory (N, K), not (N, K, Z)
        squared = (z.pow(2) @ precision.T - 2 * z @ (self.means * precision).T
                   + (self.means.pow(2) * precision).sum(1))  # (N, K)
        log_density = -0.5 * (squared + self.log_vars.sum(1) + self.dim * LOG_2PI)
        return log_density + self.log_weights

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the mixture: z (..., Z) -> (...), in z's dtype."""
        flat = z.reshape(-1, z.size(-1))
        out = torch.cat([torch.logsumexp(self.component_log_prob(chunk), dim=1)
                         for chunk in flat.split(8192)]) if len(flat) else flat.new_zeros(0)
        return out.to(z.dtype).reshape(z.shape[:-1])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` codes drawn from the mixture: (n, Z) float32."""
        component = torch.multinomial(self.log_weights.exp().float(), n, replacement=True,
                                      generator=generator)  # (n,)
        noise = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)
        z = self.means[component] + noise * (0.5 * self.log_vars[component]).exp()
        return z.float()

    # --- files ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the mixture as safetensors (three tensors, no code)."""
        from safetensors.torch import save_file

        save_file({"log_weights": self.log_weights.contiguous(), "means": self.means.contiguous(),
                   "log_vars": self.log_vars.contiguous()}, str(path))

    @classmethod
    def load(cls, path: str | Path, latent_dim: int | None = None) -> "GaussianMixture":
        """Read a mixture written by `save`; a `CheckpointError` naming the file if it is not one."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
            mixture = cls(tensors["log_weights"], tensors["means"], tensors["log_vars"])
        except (SafetensorError, OSError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: not a sentvae prior ({str(exc).splitlines()[0][:120]})") from None
        k, z = mixture.means.shape
        if mixture.log_weights.shape != (k,) or mixture.log_vars.shape != (k, z) or \
                (latent_dim is not None and z != latent_dim):
            raise CheckpointError(f"{path}: a prior of {k} components over {z} dimensions does "
                                  f"not fit a model with latent_dim {latent_dim}")
        return mixture


def _kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k starting centres (k, Z), each drawn with probability proportional to its squared
    distance from the centres already chosen (Arthur and Vassilvitskii 2007)."""
    first = torch.randint(len(x), (1,), generator=generator)
    centres = [x[first[0]]]
    distance = (x - centres[0]).pow(2).sum(1)  # (N,)
    for _ in range(1, k):
        chosen = torch.multinomial((distance + 1e-12).float(), 1, generator=generator)[0]
        centres.append(x[chosen])
        distance = torch.minimum(distance, (x - x[chosen]).pow(2).sum(1))
    return torch.stack(centres)


def fit_mixture(codes: torch.Tensor, k: int, iterations: int = 100, seed: int = 0,
                tolerance: float = 1e-6) -> GaussianMixture:
    """EM for a K-component diagonal mixture of codes (N, Z), from a k-means++ start."""
    if k < 1 or k > len(codes):
        raise ArgumentError(f"a mixture of {k} components needs at least {k} codes, got {len(codes)}")
    x = codes.double()
    generator = torch.Generator().manual_seed(seed)
    spread = x.var(0, unbiased=False).clamp(min=MIN_VARIANCE)  # (Z,)
    mixture = GaussianMixture(torch.full((k,), -math.log(k), dtype=torch.float64),
                              _kmeans_plus_plus(x, k, generator), spread.log().expand(k, -1).clone())
    previous = -math.inf
    for _ in range(iterations):
        joint = mixture.component_log_prob(x)  # (N, K)   E step
        total = torch.logsumexp(joint, dim=1, keepdim=True)  # (N, 1)
        mean_log_likelihood = float(total.mean())
        responsibility = (joint - total).exp()  # (N, K)
        mass = responsibility.sum(0) + 1e-10  # (K,)   M step
        means = (responsibility.T @ x) / mass.unsqueeze(1)  # (K, Z)
        second = (responsibility.T @ x.pow(2)) / mass.unsqueeze(1)
        variances = (second - means.pow(2)).clamp(min=MIN_VARIANCE)
        mixture = GaussianMixture((mass / mass.sum()).log(), means, variances.log())
        if mean_log_likelihood - previous < tolerance:
            break
        previous = mean_log_likelihood
    return mixture


def choose_mixture(train_codes: torch.Tensor, valid_codes: torch.Tensor,
                   choices: tuple[int, ...] = COMPONENT_CHOICES, seed: int = 0
                   ) -> tuple[GaussianMixture, dict[int, float]]:
    """The mixture whose number of components gives the highest mean validation log-likelihood.

    Returns (mixture, {K: mean validation log p(z)}); K larger than the training codes allow is
    skipped. The standard normal's validation log-likelihood is what the table is compared with.
    """
    scores, best, best_score = {}, None, -math.inf
    for k in choices:
        if k > len(train_codes):
            continue
        mixture = fit_mixture(train_codes, k, seed=seed)
        scores[k] = float(mixture.log_prob(valid_codes.double()).mean())
        if scores[k] > best_score:
            best, best_score = mixture, scores[k]
    if best is None:
        raise ArgumentError("no codes to fit a prior to")
    return best, scores


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I): z (..., Z) -> (...)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)

"""The distribution latent codes are sampled from: N(0, I), or a mixture fitted to the codes.

A VAE trained to carry many nats in its code leaves regions of N(0, I) that no sentence maps to;
decoding from there gives poor sentences. Ex-post density estimation (Ghosh et al. 2020) fits a
density to where the codes actually are and samples from it instead:

    codes = posterior draws z ~ q(z | x) of the training sentences       (N, Z)
    mixture = choose_mixture(codes, valid_codes)     # K chosen by the validation log-likelihood
    mixture.sample(1000, generator)                   # (1000, Z)
    mixture.save(checkpoint / PRIOR_FILE)             # safetensors, next to the weights

The mixture has diagonal or full covariances (whichever, with however many components, fits the
validation codes best) and is fitted by EM from a k-means++ start, in torch (float64). Full
covariances capture codes whose dimensions are correlated, as a high-rate model's are. It is a
valid density, so it also gives an importance-weighted NLL of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import ArgumentError, CheckpointError
from .objective import LOG_2PI

PRIOR_FILE = "prior.safetensors"
COMPONENT_CHOICES = (1, 2, 4, 8, 16, 32, 64)  # tried with diagonal covariances
FULL_COMPONENT_CHOICES = (1, 2, 4, 8, 16)  # tried with full ones: Z(Z + 1)/2 numbers each
COVARIANCES = ("diagonal", "full")
MIN_VARIANCE = 1e-4  # floor of each component's variance: no component collapses on one code
ROW_CHUNK_ELEMENTS = 1 << 22  # full covariances: rows x K x Z projected at a time (32 MB)


@dataclass
class GaussianMixture:
    """A mixture of K Gaussians over Z dimensions, with diagonal or full covariances.

    Exactly one of `log_vars` (diagonal) and `scale_tril` (full: covariance_k = L_k L_k^T,
    L_k lower triangular with a positive diagonal) is set.
    """

    log_weights: torch.Tensor  # (K,) log mixing proportions, logsumexp = 0
    means: torch.Tensor  # (K, Z)
    log_vars: torch.Tensor | None = None  # (K, Z)
    scale_tril: torch.Tensor | None = None  # (K, Z, Z)

    def __post_init__(self):
        if (self.log_vars is None) == (self.scale_tril is None):
            raise ValueError("a mixture has either log_vars (diagonal) or scale_tril (full), not both")

    @property
    def components(self) -> int:
        return self.means.size(0)

    @property
    def dim(self) -> int:
        return self.means.size(1)

    @property
    def covariance(self) -> str:
        """"diagonal" or "full"."""
        return "diagonal" if self.log_vars is not None else "full"

    @property
    def label(self) -> str:
        """E.g. "16 full": the key of this mixture in a report of validation scores."""
        return f"{self.components} {self.covariance}"

    def component_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(z; m_k, S_k) for every code and component: z (N, Z) -> (N, K)."""
        z = z.to(self.means.dtype)
        if self.log_vars is None:
            return self._full_log_density(z) + self.log_weights
        precision = (-self.log_vars).exp()  # (K, Z)
        # sum_d (z_d - m_kd)^2 / v_kd as matrix products: memory (N, K), not (N, K, Z)
        squared = (z.pow(2) @ precision.T - 2 * z @ (self.means * precision).T
                   + (self.means.pow(2) * precision).sum(1))  # (N, K)
        log_density = -0.5 * (squared + self.log_vars.sum(1) + self.dim * LOG_2PI)
        return log_density + self.log_weights

    def _full_log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; m_k, L_k L_k^T): z (N, Z) -> (N, K), |L_k^-1 (z - m_k)|^2 a few rows at a time."""
        k, dim = self.means.shape
        eye = torch.eye(dim, dtype=self.means.dtype).expand(k, dim, dim)
        whiten = torch.linalg.solve_triangular(self.scale_tril, eye, upper=False)  # (K, Z, Z) L^-1
        flat = whiten.reshape(k * dim, dim)  # (K*Z, Z)
        whitened_means = (whiten @ self.means.unsqueeze(2)).squeeze(2)  # (K, Z)
        log_det = 2 * self.scale_tril.diagonal(dim1=1, dim2=2).log().sum(1)  # (K,)
        rows = max(1, ROW_CHUNK_ELEMENTS // (k * dim))
        squared = torch.cat([((chunk @ flat.T).view(-1, k, dim) - whitened_means).pow(2).sum(2)
                             for chunk in z.split(rows)]) if len(z) else z.new_zeros(0, k)  # (N, K)
        return -0.5 * (squared + log_det + dim * LOG_2PI)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the mixture: z (..., Z) -> (...), in z's dtype."""
        flat = z.reshape(-1, z.size(-1))
        out = torch.cat([torch.logsumexp(self.component_log_prob(chunk), dim=1)
                         for chunk in flat.split(8192)]) if len(flat) else flat.new_zeros(0)
        return out.to(z.dtype).reshape(z.shape[:-1])

    def sample(self, n: int, generator: torch.Generator | None = None, scale: float = 1.0) -> torch.Tensor:
        """`n` codes drawn from the mixture: (n, Z) float32. `scale` < 1 draws closer to the
        component means (each component's covariance times scale^2; the weights unchanged)."""
        component = torch.multinomial(self.log_weights.exp().float(), n, replacement=True,
                                      generator=generator)  # (n,)
        noise = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)  # (n, Z)
        if self.log_vars is not None:
            offset = noise * (0.5 * self.log_vars[component]).exp()
        else:
            offset = (self.scale_tril[component] @ noise.unsqueeze(2)).squeeze(2)  # (n, Z)
        return (self.means[component] + scale * offset).float()

    # --- files ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the mixture as safetensors (three tensors, no code)."""
        from safetensors.torch import save_file

        spread = {"log_vars": self.log_vars} if self.log_vars is not None else {"scale_tril": self.scale_tril}
        save_file({"log_weights": self.log_weights.contiguous(), "means": self.means.contiguous(),
                   **{name: tensor.contiguous() for name, tensor in spread.items()}}, str(path))

    @classmethod
    def load(cls, path: str | Path, latent_dim: int | None = None) -> "GaussianMixture":
        """Read a mixture written by `save`; a `CheckpointError` naming the file if it is not one."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
            mixture = cls(tensors["log_weights"], tensors["means"], tensors.get("log_vars"),
                          tensors.get("scale_tril"))
        except (SafetensorError, OSError, KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a sentvae prior ({str(exc).splitlines()[0][:120]})") from None
        k, z = mixture.means.shape
        spread_shape = (k, z) if mixture.log_vars is not None else (k, z, z)
        spread = mixture.log_vars if mixture.log_vars is not None else mixture.scale_tril
        if mixture.log_weights.shape != (k,) or spread.shape != spread_shape or \
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


def _start(x: torch.Tensor, k: int, covariance: str, generator: torch.Generator) -> GaussianMixture:
    """Equal weights, k-means++ means, every component with the codes' overall spread."""
    spread = x.var(0, unbiased=False).clamp(min=MIN_VARIANCE)  # (Z,)
    weights = torch.full((k,), -math.log(k), dtype=torch.float64)
    means = _kmeans_plus_plus(x, k, generator)
    if covariance == "diagonal":
        return GaussianMixture(weights, means, log_vars=spread.log().expand(k, -1).clone())
    return GaussianMixture(weights, means, scale_tril=torch.diag(spread.sqrt()).expand(k, -1, -1).clone())


def _maximise(x: torch.Tensor, responsibility: torch.Tensor, covariance: str) -> GaussianMixture:
    """The M step: weights, means and covariances from the responsibilities (N, K)."""
    mass = responsibility.sum(0) + 1e-10  # (K,)
    means = (responsibility.T @ x) / mass.unsqueeze(1)  # (K, Z)
    log_weights = (mass / mass.sum()).log()
    if covariance == "diagonal":
        second = (responsibility.T @ x.pow(2)) / mass.unsqueeze(1)
        variances = (second - means.pow(2)).clamp(min=MIN_VARIANCE)
        return GaussianMixture(log_weights, means, log_vars=variances.log())
    floor = MIN_VARIANCE * torch.eye(x.size(1), dtype=x.dtype)
    scale_tril = []
    for k in range(len(means)):
        centred = x - means[k]  # (N, Z)
        scatter = (centred * responsibility[:, k:k + 1]).T @ centred / mass[k]  # (Z, Z)
        scale_tril.append(torch.linalg.cholesky(scatter + floor))
    return GaussianMixture(log_weights, means, scale_tril=torch.stack(scale_tril))


def fit_mixture(codes: torch.Tensor, k: int, iterations: int = 100, seed: int = 0,
                tolerance: float = 1e-6, covariance: str = "diagonal") -> GaussianMixture:
    """EM for a K-component mixture of codes (N, Z) with `covariance` "diagonal" or "full",
    from a k-means++ start; stops when the mean log-likelihood gains less than `tolerance`."""
    if k < 1 or k > len(codes):
        raise ArgumentError(f"a mixture of {k} components needs at least {k} codes, got {len(codes)}")
    if covariance not in COVARIANCES:
        raise ArgumentError(f"covariance must be one of {', '.join(COVARIANCES)}, got {covariance!r}")
    x = codes.double()
    mixture = _start(x, k, covariance, torch.Generator().manual_seed(seed))
    previous = -math.inf
    for _ in range(iterations):
        joint = mixture.component_log_prob(x)  # (N, K)   E step
        total = torch.logsumexp(joint, dim=1, keepdim=True)  # (N, 1)
        mean_log_likelihood = float(total.mean())
        mixture = _maximise(x, (joint - total).exp(), covariance)
        if mean_log_likelihood - previous < tolerance:
            break
        previous = mean_log_likelihood
    return mixture


def choose_mixture(train_codes: torch.Tensor, valid_codes: torch.Tensor,
                   choices: tuple[int, ...] = COMPONENT_CHOICES, seed: int = 0,
                   full_choices: tuple[int, ...] = FULL_COMPONENT_CHOICES
                   ) -> tuple[GaussianMixture, dict[str, float]]:
    """The mixture that gives the highest mean validation log-likelihood: `choices` numbers of
    components with diagonal covariances, `full_choices` with full ones.

    Returns (mixture, {label: mean validation log p(z)}), labels like "16 diagonal" / "4 full";
    K larger than the training codes allow is skipped. The standard normal's validation
    log-likelihood is what the table is compared with.
    """
    scores, best, best_score = {}, None, -math.inf
    candidates = [(k, "diagonal") for k in choices] + [(k, "full") for k in full_choices]
    for k, covariance in candidates:
        if k > len(train_codes):
            continue
        mixture = fit_mixture(train_codes, k, seed=seed, covariance=covariance)
        scores[mixture.label] = float(mixture.log_prob(valid_codes.double()).mean())
        if scores[mixture.label] > best_score:
            best, best_score = mixture, scores[mixture.label]
    if best is None:
        raise ArgumentError("no codes to fit a prior to")
    return best, scores


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I): z (..., Z) -> (...)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)

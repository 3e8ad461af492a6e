"""Clustering latent codes: seeded k-means with k-means++ seeding."""

from __future__ import annotations

import math

import torch

from ..errors import ArgumentError


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iterations: int = 100,
           restarts: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means with k-means++ seeding: x (N, Z) -> centroids (k, Z), labels (N,).

    Seeded and deterministic; the best of `restarts` runs (lowest within-cluster sum of squares).
    With k >= N every point is its own cluster.
    """
    x = x.float().cpu()
    n = x.size(0)
    if k < 1:
        raise ArgumentError(f"k-means needs k >= 1, got {k}")
    if k >= n:
        return x.clone(), torch.arange(n)
    generator = torch.Generator().manual_seed(seed)
    best, best_inertia = None, math.inf
    for _ in range(restarts):
        centroids = _kmeans_plus_plus(x, k, generator)  # (k, Z)
        for _ in range(iterations):
            labels = torch.cdist(x, centroids).argmin(dim=1)  # (N,)
            counts = torch.bincount(labels, minlength=k).unsqueeze(1)  # (k, 1)
            sums = torch.zeros_like(centroids).index_add_(0, labels, x)  # (k, Z)
            updated = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)  # empty: keep
            if torch.allclose(updated, centroids):
                break
            centroids = updated
        labels = torch.cdist(x, centroids).argmin(dim=1)
        inertia = float(((x - centroids[labels]) ** 2).sum())
        if inertia < best_inertia - 1e-9:
            best, best_inertia = (centroids, labels), inertia
    return best


def _kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): x (N, Z) -> k initial centroids (k, Z)."""
    n = x.size(0)
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    nearest = ((x - x[chosen[0]]) ** 2).sum(dim=1)  # (N,) squared distance to the nearest centre
    for _ in range(1, k):
        weights = nearest.clone()
        weights[chosen] = 0
        if float(weights.sum()) <= 0:  # only duplicates left: pick any point not yet chosen
            weights = torch.ones(n)
            weights[chosen] = 0
        index = int(torch.multinomial(weights, 1, generator=generator))
        chosen.append(index)
        nearest = torch.minimum(nearest, ((x - x[index]) ** 2).sum(dim=1))
    return x[chosen].clone()

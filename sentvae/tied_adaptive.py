"""An adaptive softmax whose rows are the decoder's (tied) embedding table.

Grave et al. 2017's adaptive softmax splits a frequency-ordered vocabulary at `cutoffs`: the head
scores the shortlist (ids below the first cutoff) and one entry per cluster, and a word of cluster
i has probability p(cluster i | h) * p(word | cluster i, h). Training scores the head for every
position but a cluster only for the positions whose target falls in it; on Penn Treebank (V = 10k,
cutoffs 2,000 / 6,000) that is about a quarter of the full softmax's output-layer arithmetic.

torch's `AdaptiveLogSoftmaxWithLoss` gives each cluster its own smaller projection, so it cannot
share the embedding table; untied, it generalised worse than the tied full softmax over a whole
PTB budget (configs/ptb.yaml). Here every word keeps the same parameters as in the tied full
softmax — its embedding row scores it, plus a bias — and the head adds one learned vector per
cluster. Every word is scored at the full hidden size (no smaller cluster projections).

    layer = TiedAdaptiveSoftmax(hidden_dim, vocab_size, cutoffs)
    nll = layer.nll(hidden, embedding.weight, targets)    hidden (N, H), targets (N,) -> (N,) float32
    logp = layer.log_prob(hidden, embedding.weight)       hidden (R, H) -> (R, V) log-probabilities
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cross_entropy import clustered_cross_entropy


class TiedAdaptiveSoftmax(nn.Module):
    """Adaptive softmax over the rows of a (V, H) embedding table passed in at each call.

    Parameters of its own: a bias per word (V,), a vector and a bias per cluster (C, H), (C,).
    """

    def __init__(self, hidden_dim: int, vocab_size: int, cutoffs: list[int]):
        super().__init__()
        if not cutoffs or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size or any(
                b <= a for a, b in zip(cutoffs, cutoffs[1:])):
            raise ValueError(f"cutoffs must be increasing ids in [1, {vocab_size}), got {cutoffs}")
        self.shortlist_size = cutoffs[0]
        self.bounds = list(zip(cutoffs, [*cutoffs[1:], vocab_size]))  # [low, high) of each cluster
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.cluster_weight = nn.Parameter(torch.randn(len(cutoffs), hidden_dim) * hidden_dim ** -0.5)
        self.cluster_bias = nn.Parameter(torch.zeros(len(cutoffs)))

    def _head_logits(self, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """hidden (R, H) -> (R, shortlist + C) float32: the shortlist's words, then the clusters."""
        shortlist = self.shortlist_size
        head_weight = torch.cat([weight[:shortlist], self.cluster_weight])  # (shortlist + C, H)
        head_bias = torch.cat([self.bias[:shortlist], self.cluster_bias])
        return F.linear(hidden, head_weight, head_bias).float()

    def _cluster_logits(self, hidden: torch.Tensor, weight: torch.Tensor, cluster: int) -> torch.Tensor:
        """hidden (R, H) -> (R, high - low) float32: the words of one cluster."""
        low, high = self.bounds[cluster]
        return F.linear(hidden, weight[low:high], self.bias[low:high]).float()

    def nll(self, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-log p(target): hidden (N, H), weight (V, H), targets (N,) -> (N,) float32.

        Scores the head for every row and each cluster only for the rows whose target is in it;
        each logits tensor is held once, not three times (cross_entropy.py).
        """
        return clustered_cross_entropy(lambda rows: self._head_logits(rows, weight),
                                       lambda i, rows: self._cluster_logits(rows, weight, i),
                                       self.bounds, hidden, targets)

    def log_prob(self, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every word: hidden (R, H), weight (V, H) -> (R, V) float32."""
        head = torch.log_softmax(self._head_logits(hidden, weight), dim=-1)  # (R, shortlist + C)
        parts = [head[:, : self.shortlist_size]]
        for i in range(len(self.bounds)):
            cluster = self.shortlist_size + i
            parts.append(torch.log_softmax(self._cluster_logits(hidden, weight, i), dim=-1)
                         + head[:, cluster: cluster + 1])
        return torch.cat(parts, dim=-1)

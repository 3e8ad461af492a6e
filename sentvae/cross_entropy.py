"""Cross-entropy over the full vocabulary that holds one (N, V) tensor, not three.

    nll = cross_entropy(logits, targets)        logits (N, V) float32, targets (N,) -> (N,)
    nll = adaptive_cross_entropy(layer, hidden, targets)    the same for an adaptive softmax

`F.cross_entropy(logits, targets, reduction="none")` keeps the log-softmax (N, V) for the backward
pass, which then builds the gradient of the log-softmax (N, V) and the gradient of the logits (N, V):
on Penn Treebank (V = 10k) the longest batches hold ~5,000 positions, ~200 MB per tensor, and these
three were most of a training process's peak memory. Here the forward pass computes the
log-normaliser chunk by chunk (no (N, V) temporary) and saves the logits themselves; the backward
pass turns them, in place, into the gradient softmax - onehot (times the incoming gradient). The
logits are the output of the vocabulary projection, which does not need them for its own backward
pass, so nothing else reads them. Same values and gradients as `F.cross_entropy` (tests check both),
and no more arithmetic.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

CHUNK_ROWS = 1024  # rows per chunk of the log-normaliser and of the in-place gradient


class _InPlaceCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_normaliser = torch.cat([torch.logsumexp(rows, dim=1) for rows in logits.split(CHUNK_ROWS)])  # (N,)
        nll = log_normaliser - logits.gather(1, targets.unsqueeze(1))[:, 0]  # (N,)
        ctx.save_for_backward(logits, targets, log_normaliser)
        return nll

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_nll: torch.Tensor):
        logits, targets, log_normaliser = ctx.saved_tensors
        grad = logits  # overwritten: d nll_i / d logits_ij = softmax_ij - [j = target_i]
        for rows, normaliser, scale in zip(grad.split(CHUNK_ROWS), log_normaliser.split(CHUNK_ROWS),
                                           grad_nll.split(CHUNK_ROWS)):
            rows.sub_(normaliser.unsqueeze(1)).exp_().mul_(scale.unsqueeze(1))
        grad.scatter_add_(1, targets.unsqueeze(1), -grad_nll.unsqueeze(1).to(grad.dtype))
        return grad, None


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log softmax(logits)[target] per row: logits (N, V), targets (N,) -> (N,).

    With gradients, `logits` must be a tensor nothing else uses (the backward pass overwrites it)
    and the graph can be backpropagated through once; without, it is a chunked evaluation.
    """
    if not (torch.is_grad_enabled() and logits.requires_grad):
        with torch.no_grad():
            return _InPlaceCrossEntropy.forward(_NoContext(), logits, targets)
    return _InPlaceCrossEntropy.apply(logits, targets)


def adaptive_cross_entropy(layer: torch.nn.AdaptiveLogSoftmaxWithLoss, hidden: torch.Tensor,
                           targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) under an adaptive softmax: hidden (N, H), targets (N,) -> (N,) float32.

    The same parameters and values as `-layer(hidden, targets).output`, but the head (N, shortlist +
    clusters) and each cluster's logits go through `cross_entropy`, so each is held once instead
    of three times (logits, log-softmax, and their gradients): at the PTB size the head is the
    largest tensor of a step. A target in cluster i scores as the head's cluster entry plus its
    place within the cluster.
    """
    shortlist = layer.shortlist_size
    head_targets = targets.clone()  # (N,) shortlist ids, or shortlist + i for cluster i
    nll = hidden.new_zeros(len(targets), dtype=torch.float32)  # (N,) the clusters' parts
    for i, (low, high) in enumerate(zip(layer.cutoffs[:-1], layer.cutoffs[1:])):
        rows = ((targets >= low) & (targets < high)).nonzero()[:, 0]  # (n_i,)
        # An empty cluster still runs (on 0 rows): its parameters then get a zero gradient, as
        # DistributedDataParallel needs every parameter to get one on every rank and step.
        head_targets[rows] = shortlist + i
        cluster_logits = layer.tail[i](hidden.index_select(0, rows)).float()  # (n_i, high - low)
        nll = nll.index_add(0, rows, cross_entropy(cluster_logits, targets[rows] - low))
    return nll + cross_entropy(layer.head(hidden).float(), head_targets)


class _NoContext:
    """Stands in for autograd's context when no backward pass will follow."""

    def save_for_backward(self, *tensors) -> None:
        return None

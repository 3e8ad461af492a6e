"""Cross-entropy over the full vocabulary that never holds all the (N, V) logits, or holds them once.

    nll = linear_cross_entropy(hidden, weight, bias, targets)   hidden (N, H) -> (N,): projection
                                                                and cross-entropy, chunk by chunk
    nll = cross_entropy(logits, targets)        logits (N, V) float32, targets (N,) -> (N,)
    nll = adaptive_cross_entropy(layer, hidden, targets)    the same for an adaptive softmax
    nll = clustered_cross_entropy(head, cluster, bounds, hidden, targets)   any shortlist + clusters

`F.cross_entropy(logits, targets, reduction="none")` keeps the log-softmax (N, V) for the backward
pass, which then builds the gradient of the log-softmax (N, V) and the gradient of the logits (N, V):
on Penn Treebank (V = 10k) the longest batches hold ~5,000 positions, ~200 MB per tensor, and these
three were most of a training process's peak memory. Here the forward pass computes the
log-normaliser chunk by chunk (no (N, V) temporary) and saves the logits themselves; the backward
pass turns them, in place, into the gradient softmax - onehot (times the incoming gradient). The
logits are the output of the vocabulary projection, which does not need them for its own backward
pass, so nothing else reads them. Same values and gradients as `F.cross_entropy` (tests check both),
and no more arithmetic.

`linear_cross_entropy` goes further for the full softmax: it takes the hidden states and the
projection and works through `CHUNK_ROWS` positions at a time, so that no (N, V) tensor exists at
all. The forward pass of a chunk computes its logits, their log-normaliser, the NLL and, from the
same logits, the gradient softmax - onehot, and turns that at once into the chunk's gradients of
the hidden states (chunk, H) and of the projection (V, H), summed over the chunks. The backward
pass scales them by the incoming gradient: row by row for the hidden states, and - when every row
has the same incoming gradient, as a mean or a sum of the NLLs gives - by that one number for the
projection; otherwise it goes through the chunks again with the rows' own weights. The same three
matrix products as a projection followed by `cross_entropy`, on chunks instead of the whole batch;
under autocast each product runs in autocast's dtype, as the projection layer's would.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

CHUNK_ROWS = 512  # rows per chunk of the log-normaliser and gradients: a (512, 10k) block is 20 MB


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


def _chunked_linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                                  targets: torch.Tensor, row_weights: torch.Tensor | None, gradients: bool):
    """NLL of every row and, with `gradients`, the gradients of sum_i w_i * nll_i (w = 1 without
    `row_weights`) with respect to hidden, weight and bias; one (CHUNK_ROWS, V) block at a time.

    hidden (N, H), weight (V, H), bias (V,) or None, targets (N,), row_weights (N,) or None
    -> nll (N,), (grad_hidden (N, H), grad_weight (V, H), grad_bias (V,) or None) or None, and the
    dtype the products ran in (autocast's, or the weight's).
    """
    scores_dtype = torch.promote_types(weight.dtype, torch.float32)  # float32, or float64 in tests
    nll = hidden.new_empty(len(targets), dtype=scores_dtype)  # (N,)
    if gradients:
        grad_hidden = torch.empty_like(hidden)  # (N, H)
        grad_weight = torch.zeros_like(weight, dtype=scores_dtype)  # (V, H)
        grad_bias = None if bias is None else torch.zeros_like(bias, dtype=scores_dtype)  # (V,)
    product_dtype = weight.dtype
    for start in range(0, len(targets), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        chunk, wanted = hidden[rows], targets[rows]  # (C, H), (C,)
        products = torch.nn.functional.linear(chunk, weight, bias)  # (C, V), bf16 under autocast
        product_dtype = products.dtype
        logits = products.to(scores_dtype)  # (C, V)
        del products
        log_normaliser = torch.logsumexp(logits, dim=1)  # (C,)
        nll[rows] = log_normaliser - logits.gather(1, wanted.unsqueeze(1))[:, 0]
        if not gradients:
            continue
        grad = logits.sub_(log_normaliser.unsqueeze(1)).exp_()  # (C, V) softmax, in place
        grad.scatter_add_(1, wanted.unsqueeze(1), grad.new_full((len(wanted), 1), -1.0))  # - onehot
        if row_weights is not None:
            grad.mul_(row_weights[rows].unsqueeze(1).to(grad.dtype))
        grad = grad.to(weight.dtype)  # no copy in float32; under autocast the products cast it
        grad_hidden[rows] = grad.matmul(weight)  # (C, H)
        if chunk.dtype == grad_weight.dtype:  # float32: the product accumulates in place
            grad_weight.addmm_(grad.T, chunk)  # (V, H)
        else:  # autocast's dtype: the product runs in it, then adds to the float32 sum
            grad_weight += grad.T.matmul(chunk)
        if grad_bias is not None:
            grad_bias += grad.sum(0)
    return nll, (grad_hidden, grad_weight, grad_bias) if gradients else None, product_dtype


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets):
        nll, (grad_hidden, grad_weight, grad_bias), ctx.product_dtype = _chunked_linear_cross_entropy(
            hidden, weight, bias, targets, None, gradients=True)
        ctx.save_for_backward(hidden, weight, bias, targets, grad_hidden, grad_weight, grad_bias)
        return nll

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_nll: torch.Tensor):
        hidden, weight, bias, targets, grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        if len(grad_nll) and bool((grad_nll == grad_nll[0]).all()):
            # Every row weighted alike: one number scales the projection's gradient. The buffers
            # are this function's own and used once, so they are scaled in place.
            scale = grad_nll[0]
            grad_hidden.mul_(grad_nll.unsqueeze(1).to(grad_hidden.dtype))
            grad_weight.mul_(scale)
            if grad_bias is not None:
                grad_bias.mul_(scale)
        else:  # rows weighted differently (or none): the projection's gradient needs each row's weight
            with torch.autocast(hidden.device.type, dtype=ctx.product_dtype,
                                enabled=ctx.product_dtype != weight.dtype):
                _, (grad_hidden, grad_weight, grad_bias), _ = _chunked_linear_cross_entropy(
                    hidden, weight, bias, targets, grad_nll, gradients=True)
        return (grad_hidden, grad_weight.to(weight.dtype),
                None if grad_bias is None else grad_bias.to(bias.dtype), None)


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         targets: torch.Tensor) -> torch.Tensor:
    """-log softmax(hidden @ weight.T + bias)[target] per row, without the (N, V) logits:
    hidden (N, H), weight (V, H), bias (V,) or None, targets (N,) -> (N,) float32.

    Values and gradients equal `F.cross_entropy(F.linear(hidden, weight, bias), targets,
    reduction="none")`'s; the graph can be backpropagated through once.
    """
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (hidden, weight, bias)):
        return _LinearCrossEntropy.apply(hidden, weight, bias, targets)
    with torch.no_grad():
        return _chunked_linear_cross_entropy(hidden, weight, bias, targets, None, gradients=False)[0]


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
    largest tensor of a step.
    """
    bounds = list(zip(layer.cutoffs[:-1], layer.cutoffs[1:]))
    return clustered_cross_entropy(lambda rows: layer.head(rows).float(),
                                   lambda i, rows: layer.tail[i](rows).float(),
                                   bounds, hidden, targets)


def clustered_cross_entropy(head_logits, cluster_logits, bounds: list[tuple[int, int]],
                            hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) when the vocabulary is a shortlist [0, bounds[0][0]) and clusters [low, high):
    p(word) = p(cluster | h) p(word | cluster, h). hidden (N, H), targets (N,) -> (N,) float32.

    `head_logits(hidden)` gives (N, shortlist + clusters) float32 logits, `cluster_logits(i, rows)`
    the (n_i, high - low) logits of cluster i for the rows whose target falls in it; the head is
    scored for every row, a cluster only for its rows. A target in cluster i scores as the head's
    cluster entry plus its place within the cluster.
    """
    shortlist = bounds[0][0]
    head_targets = targets.clone()  # (N,) shortlist ids, or shortlist + i for cluster i
    nll = hidden.new_zeros(len(targets), dtype=torch.float32)  # (N,) the clusters' parts
    for i, (low, high) in enumerate(bounds):
        rows = ((targets >= low) & (targets < high)).nonzero()[:, 0]  # (n_i,)
        # An empty cluster still runs (on 0 rows): its parameters then get a zero gradient, as
        # DistributedDataParallel needs every parameter to get one on every rank and step.
        head_targets[rows] = shortlist + i
        logits = cluster_logits(i, hidden.index_select(0, rows))  # (n_i, high - low)
        nll = nll.index_add(0, rows, cross_entropy(logits, targets[rows] - low))
    return nll + cross_entropy(head_logits(hidden), head_targets)


class _NoContext:
    """Stands in for autograd's context when no backward pass will follow."""

    def save_for_backward(self, *tensors) -> None:
        return None

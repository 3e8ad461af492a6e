"""A bound on the CPU kernel caches that grow with every new batch shape under bf16.

    bound_kernel_caches(64)     before the first computation of the process

With bf16 autocast on a CPU, PyTorch runs the matrix products through oneDNN, by way of ideep.
Both libraries keep every kernel they build in a cache: oneDNN's primitive cache
(ONEDNN_PRIMITIVE_CACHE_CAPACITY) and ideep's own computation cache (LRU_CACHE_CAPACITY), 1,024
entries each by default, and a kernel for a large product holds buffers of its own (a few MB at the
PTB size). A packed batch has a new number of real positions almost every step, so almost every
step adds kernels for the vocabulary projection and the GRUs' input projections, and the process
grows until both caches are full: a Penn Treebank training peaked at 3.7 GB in bf16, against about
1 GB in float32 (benchmarks/results/memory.md measures it with a new packed shape every step).
64 entries each keep what repeats (the GRUs' per-step products, one shape per batch size) and
hold the process near its float32 memory at the same speed.

Both libraries read their setting when they build their first kernel, so this acts only before
that; a value the user has set in the environment is left as it is.
"""

from __future__ import annotations

import os

CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def bound_kernel_caches(entries: int) -> dict[str, str]:
    """Cap oneDNN's and ideep's kernel caches at `entries` each, unless the environment sets them;
    0 leaves both alone. Returns the settings in effect ({} when left alone)."""
    if entries <= 0:
        return {}
    for name in CACHE_VARIABLES:
        os.environ.setdefault(name, str(entries))
    return {name: os.environ[name] for name in CACHE_VARIABLES}

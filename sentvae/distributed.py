"""More than one process: PyTorch's DistributedDataParallel, set up from torchrun's environment.

    torchrun --nproc_per_node 2 -m sentvae train ...     (or: sentvae train --nproc 2 ...)

gloo on CPU, NCCL on GPUs. Every rank builds the same global batches (same seed) and takes its
slice of each; `train.batch_size` is the *global* batch size, so a run's result does not depend on
how many processes share it (up to floating-point summation order, and module dropout whose masks
are drawn per process). Only rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective tensors live (NCCL needs CUDA tensors)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def slice(self, indices: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch (contiguous, sizes differ by at most one)."""
        if not self.distributed:
            return indices
        return np.array_split(indices, self.size)[self.rank]

    def first_row(self, indices: np.ndarray) -> int:
        """Position of this rank's first row inside the global batch."""
        if not self.distributed:
            return 0
        return sum(len(part) for part in np.array_split(indices, self.size)[: self.rank])

    def share(self, value: float, src: int = 0) -> float:
        """Rank `src`'s value, on every rank (so decisions based on clocks stay in step)."""
        if not self.distributed:
            return value
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, src=src)
        return float(tensor.item())

    def broadcast_parameters(self, module: torch.nn.Module, src: int = 0) -> None:
        """Give every rank rank `src`'s values of `module`'s parameters (after an in-place change
        that used each rank's own random numbers)."""
        if self.distributed:
            for parameter in module.parameters():
                dist.broadcast(parameter.data, src=src)

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag OR-ed over all ranks (a stop asked for anywhere stops everyone)."""
        if not self.distributed:
            return tuple(bool(f) for f in flags)
        tensor = torch.tensor([float(f) for f in flags], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in tensor.tolist())


def init_world(device: torch.device) -> World:
    """Join the process group torchrun describes (WORLD_SIZE > 1); a single process otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    where = f"cuda:{local_rank}" if device.type == "cuda" else "cpu"
    return World(rank=rank, size=size, local_rank=local_rank, device=where)


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def threads_per_process(requested: int) -> int:
    """torch intra-op threads for this process: `requested`, or for 0 ("auto") the cores this
    process may run on, shared among the processes on this machine (torchrun's LOCAL_WORLD_SIZE).

    Why all the cores in one process and not one process per core (benchmarks/threads.py, a 2-core
    AVX2 VM, PTB, `sentvae train`): 2 threads trained at 1.29x the speed of 1 thread at the anchor
    size and 1.65x at configs/ptb.yaml's, 2 gloo processes of 1 thread at 0.55x and 0.70x: their
    per-step all-reduce of every gradient costs more than halving the batch saves. `--nproc` is
    for more than one GPU.
    """
    if requested:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """The module to call in training: DDP over `model` when distributed, `model` otherwise."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else world.local_rank] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)

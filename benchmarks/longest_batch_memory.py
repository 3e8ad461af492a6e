"""Peak resident memory of a PTB training process, up to and through its heaviest steps.

    python benchmarks/longest_batch_memory.py --data ../shared/data/ptb
    PYTHONPATH=../old python benchmarks/longest_batch_memory.py --data ../shared/data/ptb   # other code

Sets the process up as `sentvae train --config configs/ptb.yaml` does (kernel caches, one thread,
the data prepared by the code's own `prepare_splits_apart`, or `prepare_splits` where the code has
no such function, the model and AdamW), prints the resident memory before the first step, then
runs `train_step` on the epoch-0 batches with the most target tokens (the steps that set a PTB
training's peak) and prints the process's peak. Minutes, not the hour of a full epoch, so two
versions of the code can be compared in one sitting; the full-epoch figure is `sentvae train`'s
own `peak resident memory` line. Prints only; nothing is written.
"""

from __future__ import annotations

import argparse
import resource
from pathlib import Path

import torch


def resident_mb() -> float:
    """The resident memory now (/proc/self/statm), MB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    parser.add_argument("--config", default="configs/ptb.yaml")
    parser.add_argument("--batches", type=int, default=2, help="how many of the heaviest batches (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="steps on each of them (default 2)")
    args = parser.parse_args()

    from sentvae import splits
    from sentvae.config import load_config, resolve_output_layer
    from sentvae.data import bucketed_batches, iterate
    from sentvae.kernel_cache import bound_kernel_caches
    from sentvae.model import SentenceVAE
    from sentvae.step import build_optimizer, step_noise, train_step

    files = [f"train.{split}_file={Path(args.data) / f'ptb.{split}.txt'}" for split in ("train", "valid", "test")]
    model_cfg, train_cfg = load_config(args.config, files)
    bound_kernel_caches(train_cfg.kernel_cache)
    torch.set_num_threads(1)
    prepare = getattr(splits, "prepare_splits_apart", splits.prepare_splits)
    tokenizer, data = prepare(model_cfg, train_cfg)
    model_cfg.vocab_size = tokenizer.vocab_size
    resolve_output_layer(model_cfg, train_cfg.tokenizer)
    torch.manual_seed(train_cfg.seed)
    model = SentenceVAE(model_cfg).train()
    optimizer = build_optimizer(model, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    print(f"data prepared by {prepare.__name__}; resident before the first step: {resident_mb():,.0f} MB")

    lengths = data["train"].lengths
    batches = bucketed_batches(lengths, train_cfg.batch_size, train_cfg.seed, 0, train_cfg.bucket_size)
    targets = [int(lengths[b].sum()) + len(b) for b in batches]
    heaviest = sorted(range(len(batches)), key=targets.__getitem__, reverse=True)[: args.batches]
    for step, index in enumerate(heaviest * args.repeats):
        rows = batches[index]
        tokens, token_lengths = next(iterate(data["train"], [rows]))
        noise = step_noise(train_cfg.seed, step, len(rows), model_cfg.latent_dim, int(lengths[rows].max()) + 1)
        train_step(model, optimizer, tokens, token_lengths, noise, beta=1.0, lr=train_cfg.lr,
                   free_bits=train_cfg.free_bits)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    print(f"peak after {args.batches * args.repeats} steps on epoch 0's {args.batches} heaviest batches "
          f"({', '.join(f'{targets[i]:,}' for i in heaviest)} target tokens): {peak:,.0f} MB")


if __name__ == "__main__":
    main()

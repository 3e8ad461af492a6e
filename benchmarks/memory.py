"""Resident memory of the training step as batch shapes vary, with bf16 autocast on and off.

    python benchmarks/memory.py                  # configs/ptb.yaml's model, 40 steps per mode
    python benchmarks/memory.py --steps 60 --onednn-cache 0 --mmap-threshold 4194304

Each mode runs in a fresh process: configs/ptb.yaml's model on a 10,002-word vocabulary, batches
of 64 random sentences whose length is drawn anew every step (3 to 40 words, as length-bucketed
PTB batches are), `sentvae.step.train_step` on one thread. Every 10 steps it records the resident
memory now (/proc/self/statm) and the peak so far (getrusage). Float32 settles after the first
steps; a mode whose memory keeps growing with the number of distinct shapes shows a per-shape
cache or a fragmenting heap rather than the step itself. `--onednn-cache N` sets
ONEDNN_PRIMITIVE_CACHE_CAPACITY for a third run with bf16 (oneDNN keeps up to 1,024 compiled
kernels, one per shape, by default); `--mmap-threshold BYTES` sets glibc's MALLOC_MMAP_THRESHOLD_
for another bf16 run (allocations at least that large are mapped and unmapped on their own instead
of being carved from the heap, which stops them fragmenting it). Writes
benchmarks/results/memory.json and memory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, RESULTS, echo, hardware, relative, write_results  # noqa: E402

VOCAB = 10_002
BATCH = 64


def probe(steps: int, bf16: bool, seed: int) -> list[dict]:
    """Train `steps` steps in this process; the memory every 10 steps."""
    import random
    import resource

    import torch

    from sentvae.config import load_config
    from sentvae.model import SentenceVAE
    from sentvae.step import build_optimizer, step_noise, train_step
    from sentvae.tokenizer import BOS_ID, EOS_ID

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model_cfg, train_cfg = load_config(REPO / "configs" / "ptb.yaml")
    model_cfg.vocab_size = VOCAB
    model = SentenceVAE(model_cfg).train()
    optimizer = build_optimizer(model, train_cfg.lr)
    lengths_rng = random.Random(seed)
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    records = []
    for step in range(steps):
        words = lengths_rng.randint(3, 40)
        tokens = torch.randint(4, VOCAB, (BATCH, words + 2))  # (B, T+2) <bos> w_1 ... w_T <eos>
        tokens[:, 0], tokens[:, -1] = BOS_ID, EOS_ID
        lengths = torch.full((BATCH,), words + 1)  # (B,) decoder targets
        noise = step_noise(seed, step, BATCH, model_cfg.latent_dim, words + 2)
        train_step(model, optimizer, tokens, lengths, noise, beta=1.0, lr=train_cfg.lr, bf16=bf16)
        if (step + 1) % 10 == 0:
            now = int(Path("/proc/self/statm").read_text().split()[1]) * page_mb
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            records.append({"step": step + 1, "resident_mb": round(now), "peak_mb": round(peak)})
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="steps per mode (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--onednn-cache", type=int, metavar="N",
                        help="also run bf16 with ONEDNN_PRIMITIVE_CACHE_CAPACITY=N")
    parser.add_argument("--mmap-threshold", type=int, metavar="BYTES",
                        help="also run bf16 with MALLOC_MMAP_THRESHOLD_=BYTES")
    parser.add_argument("--results-dir", default=relative(RESULTS))
    parser.add_argument("--child", choices=["float32", "bf16"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one mode, in its own process
        print(json.dumps(probe(args.steps, args.child == "bf16", args.seed)))
        return 0
    modes = [("float32", "float32", {}), ("bf16", "bf16", {})]
    if args.onednn_cache is not None:
        modes.append((f"bf16, ONEDNN_PRIMITIVE_CACHE_CAPACITY={args.onednn_cache}", "bf16",
                      {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(args.onednn_cache)}))
    if args.mmap_threshold is not None:
        modes.append((f"bf16, MALLOC_MMAP_THRESHOLD_={args.mmap_threshold}", "bf16",
                      {"MALLOC_MMAP_THRESHOLD_": str(args.mmap_threshold)}))
    runs = {}
    for label, mode, env in modes:
        echo(f"{label}: {args.steps} steps")
        child = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(args.steps),
                                "--seed", str(args.seed)], env={**os.environ, **env},
                               capture_output=True, text=True, check=True)
        runs[label] = json.loads(child.stdout.strip().splitlines()[-1])
    payload = {"benchmark": "memory", "command": "python benchmarks/memory.py " + " ".join(sys.argv[1:] if argv is None else argv),
               "hardware": hardware(), "steps": args.steps, "batch_size": BATCH, "vocab_size": VOCAB,
               "model": "configs/ptb.yaml", "runs": runs}
    steps = [r["step"] for r in next(iter(runs.values()))]
    lines = ["## Resident memory of the training step as batch shapes vary", "",
             f"configs/ptb.yaml's model, vocabulary {VOCAB:,}, batch {BATCH}, a new sentence length (3-40 words) "
             f"every step, one thread; {payload['hardware']['cpu']}. MB resident now / peak so far.", "",
             "| mode | " + " | ".join(f"step {s}" for s in steps) + " |", "|---|" + "---:|" * len(steps)]
    for label, records in runs.items():
        lines.append(f"| {label} | " + " | ".join(f"{r['resident_mb']:,} / {r['peak_mb']:,}" for r in records) + " |")
    lines += ["", f"Command: `{payload['command']}`"]
    json_path, md_path = write_results("memory", payload, "\n".join(lines) + "\n", args.results_dir)
    echo("\n".join(lines))
    echo(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

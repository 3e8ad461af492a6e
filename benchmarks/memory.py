"""Resident memory and speed of the training step as batch shapes vary, in float32 and bf16.

    python benchmarks/memory.py                  # configs/ptb.yaml's model, 300 steps per mode
    python benchmarks/memory.py --steps 300 --kernel-cache 1024 --kernel-cache 0
    (the bf16 modes run where the CPU has bf16 instructions, or with --force-bf16)

Each mode runs in a fresh process: configs/ptb.yaml's model on a 10,002-word vocabulary, batches
of 64 random sentences as length-bucketed PTB batches are: a bucket length drawn anew every step
(3 to 40 words) and each sentence within 4 words of it, so the number of real positions, and with
it the shape of every packed matrix product, changes from step to step. `sentvae.step.train_step`
on one thread, with the process set up as `train()` sets it up (`train.kernel_cache`, default 64:
kernel_cache.py). Every 10 steps it records the resident memory now (/proc/self/statm) and the
peak so far (getrusage), and at the end the seconds the steps took. Modes: float32; bf16 with the
default kernel cache; and bf16 with each `--kernel-cache N` (1,024 is oneDNN's and ideep's own
default: what training did before train.kernel_cache; 0 leaves the environment alone). A mode whose
memory keeps growing with the number of distinct shapes shows a per-shape cache rather than the
step itself. Writes benchmarks/results/memory.json and memory.md.
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

import torch  # noqa: E402

from sentvae.config import TrainConfig  # noqa: E402
from sentvae.kernel_cache import CACHE_VARIABLES  # noqa: E402
from sentvae.step import native_bf16  # noqa: E402

VOCAB = 10_002
BATCH = 64
DEFAULT_CACHE = TrainConfig().kernel_cache  # what training uses unless told otherwise


def probe(steps: int, bf16: bool, seed: int, kernel_cache: int) -> dict:
    """Train `steps` steps in this process; the memory every 10 steps and the seconds taken."""
    import random
    import resource
    import time

    import torch

    from sentvae.config import load_config
    from sentvae.kernel_cache import bound_kernel_caches
    from sentvae.model import SentenceVAE
    from sentvae.step import build_optimizer, step_noise, train_step
    from sentvae.tokenizer import BOS_ID, EOS_ID

    bound_kernel_caches(kernel_cache)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model_cfg, train_cfg = load_config(REPO / "configs" / "ptb.yaml")
    model_cfg.vocab_size = VOCAB
    model = SentenceVAE(model_cfg).train()
    optimizer = build_optimizer(model, train_cfg.lr)
    lengths_rng = random.Random(seed)
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    records, started = [], time.perf_counter()
    for step in range(steps):
        bucket = lengths_rng.randint(3, 40)
        words = sorted((lengths_rng.randint(max(1, bucket - 4), bucket + 4) for _ in range(BATCH)),
                       reverse=True)  # (B,) words per sentence
        longest = words[0]
        tokens = torch.randint(4, VOCAB, (BATCH, longest + 2))  # (B, T+2) <bos> w_1 ... w_n <eos> ...
        tokens[:, 0] = BOS_ID
        tokens[torch.arange(BATCH), torch.tensor(words) + 1] = EOS_ID
        lengths = torch.tensor(words) + 1  # (B,) decoder targets
        noise = step_noise(seed, step, BATCH, model_cfg.latent_dim, longest + 2)
        train_step(model, optimizer, tokens, lengths, noise, beta=1.0, lr=train_cfg.lr, bf16=bf16)
        if (step + 1) % 10 == 0:
            now = int(Path("/proc/self/statm").read_text().split()[1]) * page_mb
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            records.append({"step": step + 1, "resident_mb": round(now), "peak_mb": round(peak)})
    return {"seconds": round(time.perf_counter() - started, 1), "records": records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="steps per mode (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force-bf16", action="store_true",
                        help="run the bf16 modes on a CPU without bf16 instructions too (emulated: ~20x slower)")
    parser.add_argument("--kernel-cache", type=int, action="append", default=[], metavar="N",
                        help="also run bf16 with train.kernel_cache=N (repeatable)")
    parser.add_argument("--results-dir", default=relative(RESULTS))
    parser.add_argument("--child", choices=["float32", "bf16"], help=argparse.SUPPRESS)
    parser.add_argument("--child-cache", type=int, default=DEFAULT_CACHE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one mode, in its own process
        print(json.dumps(probe(args.steps, args.child == "bf16", args.seed, args.child_cache)))
        return 0
    modes = [("float32", "float32", DEFAULT_CACHE)]
    # bf16 only where training would use it: on a CPU without bf16 instructions it is emulated,
    # about 20x slower than float32 (AVX2: 432 s for 10 steps against 20), and training leaves it off.
    bf16_native = native_bf16(torch.device("cpu"))
    if bf16_native or args.force_bf16:
        modes.append((f"bf16, train.kernel_cache={DEFAULT_CACHE} (default)", "bf16", DEFAULT_CACHE))
        modes += [(f"bf16, train.kernel_cache={entries}", "bf16", entries) for entries in args.kernel_cache]
    else:
        echo("bf16 modes not run: this CPU has no bf16 instructions (AVX512_BF16 / AMX), so training "
             "leaves bf16 off (--force-bf16 runs them anyway)")
    # The libraries' variables come from the mode alone, not from the shell that runs this.
    environment = {name: value for name, value in os.environ.items() if name not in CACHE_VARIABLES}
    runs = {}
    for label, mode, entries in modes:
        echo(f"{label}: {args.steps} steps")
        child = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(args.steps),
                                "--seed", str(args.seed), "--child-cache", str(entries)],
                               env=environment, capture_output=True, text=True, check=True)
        runs[label] = json.loads(child.stdout.strip().splitlines()[-1])
    payload = {"benchmark": "memory", "command": "python benchmarks/memory.py " + " ".join(sys.argv[1:] if argv is None else argv),
               "hardware": hardware(), "bf16_native": bf16_native, "steps": args.steps, "batch_size": BATCH, "vocab_size": VOCAB,
               "model": "configs/ptb.yaml", "runs": runs}
    table = render(payload)
    json_path, md_path = write_results("memory", payload, table, args.results_dir)
    echo(table)
    echo(f"wrote {json_path} and {md_path}")
    return 0


def render(payload: dict) -> str:
    """The Markdown table: memory every 50 steps, seconds, speed against float32."""
    runs = payload["runs"]
    shown = [r["step"] for r in next(iter(runs.values()))["records"] if r["step"] % 50 == 0]
    float32_seconds = runs["float32"]["seconds"]
    lines = ["## Resident memory of the training step as batch shapes vary", "",
             f"configs/ptb.yaml's model, vocabulary {payload['vocab_size']:,}, batch {payload['batch_size']}, "
             "packed batches whose number of real positions changes every step (bucket length 3-40 words, "
             f"each sentence within 4 words of it), one thread; {payload['hardware']['cpu']} "
             f"({payload['hardware']['instruction_set']}). "
             "MB resident now / peak so far.", "",
             "| mode | " + " | ".join(f"step {s}" for s in shown) + " | seconds | speed vs float32 |",
             "|---|" + "---:|" * (len(shown) + 2)]
    for label, run in runs.items():
        at = {r["step"]: r for r in run["records"]}
        cells = [f"{at[s]['resident_mb']:,} / {at[s]['peak_mb']:,}" for s in shown]
        lines.append(f"| {label} | " + " | ".join(cells) +
                     f" | {run['seconds']:.0f} | {float32_seconds / run['seconds']:.2f}x |")
    lines += ["", f"Command: `{payload['command']}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

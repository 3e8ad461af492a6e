"""How `sentvae train` should use the machine's cores: 1 thread, N threads, or N processes.

    python benchmarks/threads.py --data ../shared/data/ptb        # PTB, two model sizes
    python benchmarks/threads.py --quick                          # a smoke run (tests use it)

For each model size (the anchor's — timbmg/Sentence-VAE's defaults: embedding 300, GRU 256,
z 16, batch 32 — and configs/ptb.yaml's) it runs the real `sentvae train` with the shipped
defaults for the same steps on the same sentences:
- one process, 1 torch thread;
- one process, one thread per core (`train.threads` = the core count);
- one gloo process per core with 1 thread each (`--nproc`, DistributedDataParallel: the same
  global batch, each process trains on its slice);
and reads the tokens/s each run reports (summary.json's train_tokens_per_s: every step, data
iterator and logging included; for --nproc, rank 0's count of the global batch's tokens). Runs
one at a time, so the machine must be otherwise idle. Writes benchmarks/results/threads.json and
threads.md; `train.threads: 0` (auto, config.py) follows what it found.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, echo, fail, hardware, read_run_summary, relative, write_results  # noqa: E402

ANCHOR = ["model.embed_dim=300", "model.encoder_hidden_dim=256", "model.bidirectional=false",
          "model.decoder_hidden_dim=256", "model.latent_dim=16", "train.batch_size=32",
          "model.max_length=60"]
SIZES = {"anchor": (None, ANCHOR), "ptb_config": ("configs/ptb.yaml", [])}
QUICK_SIZE = ["model.embed_dim=32", "model.encoder_hidden_dim=32", "model.decoder_hidden_dim=32",
              "model.latent_dim=8", "train.batch_size=16"]


def settings(cores: int) -> dict[str, tuple[int, int]]:
    """name -> (processes, torch threads per process)."""
    return {"1 thread": (1, 1), f"{cores} threads": (1, cores), f"{cores} processes x 1 thread": (cores, 1)}


def run_training(args, config: str | None, overrides: list[str], processes: int, threads: int,
                 out: Path) -> dict:
    """One `sentvae train` of `args.steps` steps; its summary's speed and wall time."""
    command = [sys.executable, "-m", "sentvae", "train", "--train", args.train_file, "--valid", args.valid_file,
               "--out", str(out), "--quiet", "--threads", str(threads)]
    if config:
        command += ["--config", config]
    if processes > 1:
        command += ["--nproc", str(processes)]
    for item in overrides + [f"train.max_steps={args.steps}", f"train.eval_every={args.steps}",
                             "train.fit_prior=false", "train.vocab_size=10004"]:
        command += ["--set", item]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if done.returncode != 0:
        fail(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    summary = read_run_summary(out)
    return {"tokens_per_s": summary["train_tokens_per_s"], "steps": summary["steps"],
            "wall_seconds": time.perf_counter() - started, "processes": processes, "threads": threads,
            "output_layer": summary.get("output_layer")}


def markdown(payload: dict) -> str:
    hw = payload["hardware"]
    names = list(payload["settings"])
    lines = ["| size | " + " | ".join(f"{n} tok/s" for n in names) + " | fastest |",
             "|---|" + "---:|" * len(names) + "---|"]
    for size, runs in payload["sizes"].items():
        base = runs[names[0]]["tokens_per_s"]
        cells = [f"{runs[n]['tokens_per_s']:,.0f} ({runs[n]['tokens_per_s'] / base:.2f}x)" for n in names]
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {payload['fastest'][size]} |")
    lines += ["", f"`sentvae train` with the shipped defaults, {payload['steps']} steps per run on "
              f"{payload['corpus']}, runs one at a time; {hw['cpu']} ({hw['instruction_set']}), "
              f"{hw['logical_cores']} logical cores; ratios against 1 thread; {payload['date']}.", "",
              f"Command: `{payload['command']}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder with ptb.train.txt and ptb.valid.txt (default: the "
                        "built-in corpus, written to the work folder)")
    parser.add_argument("--steps", type=int, default=150, help="training steps per run (default 150)")
    parser.add_argument("--work-dir", default="runs/bench/threads")
    parser.add_argument("--results-dir", default=relative(RESULTS))
    parser.add_argument("--quick", action="store_true", help="tiny runs, for a smoke test")
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if args.data:
        args.train_file = str(Path(args.data) / "ptb.train.txt")
        args.valid_file = str(Path(args.data) / "ptb.valid.txt")
        for path in (args.train_file, args.valid_file):
            if not Path(path).is_file():
                fail(f"{path}: no such file (--data names the folder of ptb.train.txt / ptb.valid.txt)")
        corpus = "PTB"
    else:
        from sentvae.corpus import splits

        parts = splits(train=600 if args.quick else 20000, valid=100, test=0, seed=0)
        for name in ("train", "valid"):
            (work / f"{name}.txt").write_text("\n".join(s.text for s in parts[name]) + "\n", encoding="utf-8")
        args.train_file, args.valid_file, corpus = str(work / "train.txt"), str(work / "valid.txt"), "the built-in corpus"
    cores = os.cpu_count() or 1
    sizes = {"tiny": (None, QUICK_SIZE)} if args.quick else SIZES
    if args.quick:
        args.steps = min(args.steps, 6)
    started = time.perf_counter()
    results: dict[str, dict] = {}
    for size, (config, overrides) in sizes.items():
        results[size] = {}
        for name, (processes, threads) in settings(cores).items():
            out = work / f"{size}-{processes}p{threads}t"
            if out.exists():
                import shutil

                shutil.rmtree(out)
            echo(f"{size}, {name}: training {args.steps} steps")
            results[size][name] = run_training(args, config, overrides, processes, threads, out)
            echo(f"  {results[size][name]['tokens_per_s']:,.0f} tokens/s")
    fastest = {size: max(runs, key=lambda n: runs[n]["tokens_per_s"]) for size, runs in results.items()}
    payload = {"benchmark": "threads", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "command": "python " + " ".join([relative(sys.argv[0]), *(sys.argv[1:] if argv is None else argv)]),
               "hardware": hardware(), "corpus": corpus, "steps": args.steps,
               "settings": {name: {"processes": p, "threads": t} for name, (p, t) in settings(cores).items()},
               "sizes": results, "fastest": fastest, "minutes": (time.perf_counter() - started) / 60}
    name = "threads_quick" if args.quick else "threads"
    json_path, md_path = write_results(name, payload, markdown(payload), args.results_dir)
    print(markdown(payload))
    echo(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

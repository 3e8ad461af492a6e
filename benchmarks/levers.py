"""Speed levers that change the computation, each A/B-tested against the same run without it.

    python benchmarks/levers.py --data ../shared/data/ptb --lever adaptive_softmax --epochs 2
    python benchmarks/levers.py --data ../shared/data/ptb --lever batch_128 --epochs 2
    python benchmarks/levers.py --data ../shared/data/ptb --lever bf16 --epochs 2
    python benchmarks/levers.py --data ../shared/data/ptb --lever kernel_cache --epochs 1
    python benchmarks/levers.py --data ../shared/data/ptb --lever decoder_dropout --epochs 4 \
        --set model.use_latent=false --set model.word_dropout=0
    python benchmarks/levers.py --data ../shared/data/ptb --lever weight_decay --epochs 8 \
        --set model.use_latent=false --set model.word_dropout=0
    python benchmarks/levers.py --data ../shared/data/ptb --lever weight_decay_vae --epochs 4
    python benchmarks/levers.py --data ../shared/data/ptb --lever autoencoder_pretraining --epochs 4
    python benchmarks/levers.py --data ../shared/data/ptb --lever no_word_dropout --epochs 4

Packing, real-position projection and length bucketing are exact (tests show that a sentence's
loss does not depend on its batch), so they need no accuracy check; so is the fused AdamW kernel
(tests/test_train.py). The levers here are not exact: an adaptive softmax is a different output
layer, a larger batch a different optimisation, bf16 a coarser arithmetic. For one
lever, this script trains `configs/ptb.yaml` unchanged and with the lever's overrides, same seed,
same number of epochs, one thread each, at the same time (so both tokens/s figures come from the
same minutes of the same machine), and reports the speed-up and the best validation -ELBO at
beta = 1 of each — the cost of the speed, if any. Results accumulate, one entry per lever, in
benchmarks/results/levers.json and levers.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (REPO, RESULTS, ModelSpec, echo, fail, hardware, relative,  # noqa: E402
                    train_all, training_summary)

# float32 even where bf16 autocast is on by default (CPUs with bf16 instructions), so that every
# lever is compared with the same baseline
# The baseline keeps the tied full softmax that configs/ptb.yaml had before the adaptive softmax
# became its default (model.output_layer auto), so the levers are measured against what they were.
FULL_TIED = ["model.tie_embeddings=true", "model.output_layer=full"]
BF16_TIED = [*FULL_TIED, "train.bf16=true"]  # configs/ptb.yaml as it trains on a CPU with bf16 instructions
BASELINE = ModelSpec("baseline", "configs/ptb.yaml with the tied full softmax, float32",
                     ["train.bf16=false", *FULL_TIED])
LEVERS = {
    # A different output layer: only the head (ids < 2,000) and the targets' clusters are scored in
    # training. The tail clusters have their own projections, so the embedding cannot be tied.
    "adaptive_softmax": ModelSpec("adaptive_softmax", "adaptive softmax, cutoffs [2000, 6000], div 4, untied",
                                  ["model.tie_embeddings=false", "model.adaptive_softmax_cutoffs=[2000, 6000]",
                                   "model.adaptive_softmax_div=4"]),
    # bfloat16 autocast of the forward pass (weights and optimizer stay float32): faster only on
    # CPUs with native bf16 instructions (AVX512_BF16 / AMX) and on GPUs.
    "bf16": ModelSpec("bf16", "bf16 autocast (float32 weights)", BF16_TIED),
    # One embedding table read by the encoder and the decoder: 5.1M fewer parameters at the PTB
    # size (with their gradients and AdamW moments, ~82 MB less memory). Compared with the
    # untied adaptive-softmax config (configs/ptb.yaml when it was measured, 2026-12-03).
    "share_embeddings": ModelSpec("share_embeddings", "encoder and decoder share one embedding table",
                                  ["train.bf16=false", "model.tie_embeddings=false", "model.share_embeddings=true"]),
    # 2x the config's batch of 64, Adam's learning rate x1.5 (between square-root and linear
    # scaling); schedules given in steps are halved so that they cover the same data.
    "batch_128": ModelSpec("batch_128", "batch 128, learning rate x1.5, step schedules halved",
                           [*FULL_TIED, "train.batch_size=128", "train.lr=0.003", "train.warmup_steps=150",
                            "train.kl_warmup_steps=500"]),
    # Kernel caches bounded at 64 entries each (train.kernel_cache, kernel_cache.py) against the
    # libraries' own 1,024: the same arithmetic, so the same validation bound is expected; under
    # bf16 the caches decide the memory (benchmarks/results/memory.md).
    "kernel_cache": ModelSpec("kernel_cache", "bf16, kernel caches of 64 entries (train.kernel_cache default) instead of 1,024",
                              [*BF16_TIED, "train.kernel_cache=64"]),
    # Regularisation of the decoder (issue: PTB <= 100 nats): the language model of the PTB
    # benchmark over-fits from its fourth epoch at output dropout 0.3 and embedding dropout 0.1.
    # Run as language models: --set model.use_latent=false --set model.word_dropout=0.
    "decoder_dropout": ModelSpec("decoder_dropout", "output dropout 0.5, embedding dropout 0.2 (from 0.3, 0.1)",
                                 [*BF16_TIED, "model.output_dropout=0.5", "model.embed_dropout=0.2"]),
    # AdamW's decoupled weight decay (train.weight_decay, 0 in configs/ptb.yaml), the other
    # regulariser that issue names; over 8 epochs, where the language model over-fits without it.
    "weight_decay": ModelSpec("weight_decay", "AdamW weight decay 0.1 (from 0)", [*BF16_TIED, "train.weight_decay=0.1"]),
    # The same weight decay on the VAE itself (the PTB benchmark's first model), in the machine's
    # default arithmetic (bf16 only where the CPU has bf16 instructions).
    "weight_decay_vae": ModelSpec("weight_decay_vae", "VAE: AdamW weight decay 0.1 (from 0)",
                                  [*FULL_TIED, "train.weight_decay=0.1"]),
    # Li et al. 2019's recipe for PTB: an autoencoder first (beta = 0; here its first epoch, 658
    # steps), then the decoder re-initialised and the VAE trained from the pretrained encoder with
    # the config's free bits (0.2 nats x 32 dimensions: their KL floor). The same steps in all.
    "autoencoder_pretraining": ModelSpec("autoencoder_pretraining",
                                         "autoencoder pretraining for the first epoch (658 steps), decoder reset",
                                         [*FULL_TIED, "train.autoencoder_steps=658"]),
    # The VAE's decoder without word dropout (0.25 in configs/ptb.yaml): the PTB VAE is still
    # improving when its budget ends while the language model, without word dropout, peaks at epoch
    # 6; the free bits (0.2 nats x 32 dimensions) keep the code in use without it.
    "no_word_dropout": ModelSpec("no_word_dropout", "VAE: no word dropout (from 0.25)",
                                 [*FULL_TIED, "model.word_dropout=0"]),
}


# Levers measured against the untied adaptive softmax (model.output_layer auto with untied
# embeddings) rather than the tied full softmax.
UNTIED_ADAPTIVE = ModelSpec("untied_adaptive", "configs/ptb.yaml untied (adaptive softmax, two embedding tables), float32",
                            ["train.bf16=false", "model.tie_embeddings=false"])
# The kernel caches matter only under bf16 (float32 products do not go through oneDNN on a CPU).
BF16_CACHE_1024 = ModelSpec("bf16_cache_1024", "configs/ptb.yaml (tied full softmax), bf16, kernel caches of 1,024 entries",
                            [*BF16_TIED, "train.kernel_cache=1024"])
BF16 = ModelSpec("bf16_baseline", "configs/ptb.yaml (tied full softmax), bf16", BF16_TIED)
# Recipe levers (not arithmetic ones) train as `sentvae train` would on the machine at hand.
TIED_DEFAULT = ModelSpec("tied_default", "configs/ptb.yaml (tied full softmax), the machine's default arithmetic",
                         FULL_TIED)
BASELINES = {"share_embeddings": UNTIED_ADAPTIVE, "kernel_cache": BF16_CACHE_1024, "decoder_dropout": BF16,
             "weight_decay": BF16, "weight_decay_vae": TIED_DEFAULT, "autoencoder_pretraining": TIED_DEFAULT,
             "no_word_dropout": TIED_DEFAULT}


def baseline_for(lever: ModelSpec) -> ModelSpec:
    """The run a lever is compared with."""
    return BASELINES.get(lever.name, BASELINE)


def compare(work: Path, lever: ModelSpec) -> dict:
    """Speed and validation bound of the baseline and the lever, and the lever's differences."""
    runs, baseline = {}, baseline_for(lever)
    for spec in (baseline, lever):
        training = training_summary(work / spec.name)
        if "best_valid" not in training:
            fail(f"{work / spec.name / 'metrics.jsonl'}: no validation record (train at least one epoch)")
        runs[spec.name] = {"title": spec.title, "overrides": spec.overrides,
                           "best_valid": training.pop("best_valid"), "training": training}
    base, new = runs[baseline.name], runs[lever.name]
    speed = new["training"]["train_tokens_per_s_median"] / base["training"]["train_tokens_per_s_median"]
    return {"runs": runs, "speedup_tokens_per_s": speed,
            "valid_neg_elbo_change": new["best_valid"]["neg_elbo_per_sentence"]
            - base["best_valid"]["neg_elbo_per_sentence"]}


def markdown(results: dict) -> str:
    lines = ["| lever | baseline tok/s | lever tok/s | speed-up | baseline valid -ELBO | lever valid -ELBO | "
             "change (nats/sentence) | lever KL | peak MB baseline / lever | epochs | date |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    mb = lambda run: f"{run['training']['peak_rss_mb']:,.0f}" if "peak_rss_mb" in run["training"] else "n/a"  # noqa: E731
    # entries written before the rename of elbo -> neg_elbo keep their old key
    bound = lambda run: run["best_valid"].get("neg_elbo_per_sentence", run["best_valid"].get("elbo_per_sentence"))  # noqa: E731
    for name, entry in results.items():
        new = entry["runs"][name]
        base = next(run for key, run in entry["runs"].items() if key != name)  # its baseline
        lines.append(f"| {entry['title']} | {base['training']['train_tokens_per_s_median']:,.0f} | "
                     f"{new['training']['train_tokens_per_s_median']:,.0f} | {entry['speedup_tokens_per_s']:.2f}x | "
                     f"{bound(base):.2f} | {bound(new):.2f} | "
                     f"{entry['valid_neg_elbo_change']:+.2f} | {new['best_valid']['kl_per_sentence']:.2f} | "
                     f"{mb(base)} / {mb(new)} | {entry['epochs']} | {entry['date']} |")
    lines += ["", "Validation -ELBO: best per-epoch validation bound at beta = 1 (one posterior sample), "
              "nats per sentence; positive change = the lever costs accuracy. Tokens/s: median of the "
              "logged training windows, both runs training at the same time on one thread each."]
    for name, entry in results.items():
        lines += ["", f"`{entry['command']}` ({entry['hardware']['cpu']}, torch {entry['hardware']['torch']})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with ptb.train.txt and ptb.valid.txt")
    parser.add_argument("--lever", required=True, choices=sorted(LEVERS), help="the lever to test")
    parser.add_argument("--epochs", type=int, default=2, help="epochs each run trains (default 2)")
    parser.add_argument("--config", default=relative(REPO / "configs" / "ptb.yaml"),
                        help="the baseline config (default configs/ptb.yaml)")
    parser.add_argument("--work-dir", help="run directories (default runs/bench/levers/<lever>)")
    parser.add_argument("--results-dir", default=relative(RESULTS), help="where levers.json/.md go")
    parser.add_argument("--seed", type=int, default=0, help="training seed of both runs (default 0)")
    parser.add_argument("--reuse", action="store_true", help="keep runs whose training has finished")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for both runs (repeatable)")
    args = parser.parse_args(argv)
    files = {split: str(Path(args.data) / f"ptb.{split}.txt") for split in ("train", "valid")}
    for path in files.values():
        if not Path(path).is_file():
            fail(f"{path}: no such file (--data must hold ptb.train.txt and ptb.valid.txt)")
    # what common.train_all reads: no time budget, a fixed number of epochs, one thread per run
    args.work_dir = args.work_dir or f"runs/bench/levers/{args.lever}"
    args.budget_minutes, args.max_epochs, args.threads_per_run = 0, args.epochs, 1
    lever = LEVERS[args.lever]
    commands = train_all(args, [baseline_for(lever), lever], files)
    entry = compare(Path(args.work_dir), lever)
    entry.update(title=lever.title, epochs=args.epochs, training_commands=commands, hardware=hardware(),
                 date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 command="python " + " ".join([relative(sys.argv[0]), *(sys.argv[1:] if argv is None else argv)]))
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = results_dir / "levers.json", results_dir / "levers.md"
    results = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else {}
    results[args.lever] = entry
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    echo(markdown({args.lever: entry}))
    echo(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

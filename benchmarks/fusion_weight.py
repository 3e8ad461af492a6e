"""Choose the weight of a fused language model on the validation split of the built-in corpus.

    python benchmarks/fusion_weight.py -m runs/bench/rate/capacity80_nowd_pool_30k \
        --lm runs/bench/rate/language_model --weights 0,0.3,0.4,0.5,0.6 --beam 10

For each weight w (`VAEPipeline.fuse_with(lm, w)`; 0: the VAE alone), on the run's own built-in
validation split (never the test split the rate benchmark reports):
- the share of --samples prior samples (the fitted prior when the run has one; beam search of
  width --beam, or greedy with --beam 1) that the corpus's recogniser accepts, drawn with --seed
  (default 1, not the benchmarks' 0);
- the share of grammatical points of --pairs interpolations between validation sentences (ends
  re-ranked by re-encoding with --beam > 1) and how often their ends give back the two sentences.
Reconstructions are decoded by the VAE alone whatever w is (`fuse_with`), so they are not swept.
Writes benchmarks/results/fusion_weight.json and .md (--out to change).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from sentvae.checkpoint import read_train_config, resolve_checkpoint
from sentvae.corpus import is_grammatical
from sentvae.data import builtin_datasets
from sentvae.pipeline import VAEPipeline
from sentvae.quality import interpolation_quality, prior_sample_texts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import hardware  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def weight_list(text: str) -> list[float]:
    weights = [float(part) for part in text.split(",") if part.strip()]
    if not weights or not all(0 <= w < 1 for w in weights):
        raise argparse.ArgumentTypeError(f"weights must be numbers in [0, 1), got {text!r}")
    return weights


def sweep(args) -> dict:
    vae = VAEPipeline.from_pretrained(args.model)
    lm = VAEPipeline.from_pretrained(args.lm)
    valid = list(builtin_datasets(read_train_config(resolve_checkpoint(args.model)))["valid"]["text"])
    rows = []
    for weight in args.weights:
        started = time.perf_counter()
        vae.fuse_with(lm if weight > 0 else None, weight)
        samples = prior_sample_texts(vae, args.samples, seed=args.seed, beam=args.beam)
        paths = interpolation_quality(vae, valid, pairs=args.pairs, seed=args.seed, grammar=True,
                                      beam=args.beam, rerank=args.beam > 1)
        rows.append({"weight": weight,
                     "grammatical_samples": sum(map(is_grammatical, samples)) / len(samples),
                     "distinct_samples": len(set(samples)) / len(samples),
                     "grammatical_interpolation_points": paths["grammatical_points"],
                     "interpolation_endpoint_exact_match": paths["endpoint_exact_match"],
                     "seconds": time.perf_counter() - started, "examples": samples[:5]})
        print(f"w = {weight:g}: {100 * rows[-1]['grammatical_samples']:.1f}% grammatical samples, "
              f"{100 * rows[-1]['grammatical_interpolation_points']:.1f}% grammatical interpolation points",
              file=sys.stderr, flush=True)
    return {"benchmark": "fusion_weight", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python " + shlex.join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
            "model": str(resolve_checkpoint(args.model)), "lm": str(resolve_checkpoint(args.lm)),
            "prior": "fitted" if vae.prior is not None else "standard", "beam": args.beam,
            "samples": args.samples, "pairs": args.pairs, "seed": args.seed,
            "validation_sentences": len(valid), "rows": rows, "hardware": hardware()}


def markdown(payload: dict) -> str:
    decoding = f"beam search of width {payload['beam']}" if payload["beam"] > 1 else "greedy decoding"
    lines = ["## Fused language model: its weight on the validation split", "",
             f"Model `{payload['model']}`, language model `{payload['lm']}`; {payload['samples']:,} samples "
             f"from the {payload['prior']} prior (seed {payload['seed']}) and {payload['pairs']} interpolations "
             f"between validation sentences, {decoding}.", "",
             "| weight | grammatical samples | grammatical interpolation points | interpolation ends back |",
             "|---:|---:|---:|---:|"]
    for row in payload["rows"]:
        lines.append(f"| {row['weight']:g} | {100 * row['grammatical_samples']:.1f}% | "
                     f"{100 * row['grammatical_interpolation_points']:.1f}% | "
                     f"{100 * row['interpolation_endpoint_exact_match']:.1f}% |")
    return "\n".join(lines + ["", f"{payload['date']}; command: `{payload['command']}`", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", required=True, help="a VAE run trained on the built-in corpus")
    parser.add_argument("--lm", required=True, help="the language model to fuse in (same vocabulary)")
    parser.add_argument("--weights", type=weight_list, default=[0.0, 0.3, 0.4, 0.5, 0.6],
                        help="comma-separated weights in [0, 1) (default 0,0.3,0.4,0.5,0.6)")
    parser.add_argument("--beam", type=int, default=10, help="beam width (1: greedy; default 10)")
    parser.add_argument("--samples", type=int, default=1000, help="prior samples per weight (default 1000)")
    parser.add_argument("--pairs", type=int, default=50, help="interpolations per weight (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the draws (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fusion_weight.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    payload = sweep(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    text = markdown(payload)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Quality and speed of generation from a model trained on the built-in corpus.

    sentvae demo --out runs/demo --quiet                 (the model: configs/demo.yaml)
    python benchmarks/generation.py -m runs/demo         (writes benchmarks/results/generation.json)
    python benchmarks/generation.py --ptb-model runs/bench/ptb/vae --ptb-data ../shared/data/ptb
                     (README examples: samples, interpolations, decoding speed; generation_ptb.json)

What it measures (every draw is seeded by --seed, default 0):
- grammaticality (the corpus's exact recogniser, `corpus.is_grammatical`) of 1,000 greedy prior
  samples, and of every point of 100 interpolations (8 steps, linear, greedy, ends included)
  between random pairs of built-in *test* sentences. The test sentences are the first 1,000 of
  `corpus.splits(seed=run_seed + 1)["test"]`: fresh draws from the grammar, as `sentvae demo`
  uses for its interpolation (the run trained on `splits(seed=run_seed)["train"]`);
- distinct-1 / distinct-2 (unique n-grams / all n-grams) of 1,000 prior samples decoded with
  sampling (temperature 1), greedy decoding and beam search (width 5), the greedy and beam ones
  also refined once (`sentvae sample --refine 1`: each taken again through the autoencoder),
  against the same figures for the first 1,000 training sentences of the run
  (`splits(seed=run_seed)["train"]`), and the share of each set that is a sentence of the run's
  whole training split word for word;
- decoding throughput in sentences/s of greedy, sampling and beam search (width 5) at batch 64:
  256 prior codes per repetition (4 batches), one warm-up, median of --repeats repetitions.
With `--fusion-lm LM_CKPT` every prior sample and every point inside an interpolation is decoded
with that language model fused in (weight --lm-weight, `VAEPipeline.fuse_with`), as `sentvae demo`
decodes them with the language model it trains; the throughput then includes the language model.
Goals: at least 90% grammatical for both the prior samples and the interpolation points.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from sentvae.checkpoint import TRAIN_CONFIG_FILE, read_train_config, resolve_checkpoint
from sentvae.config import TrainConfig
from sentvae.corpus import is_grammatical, splits
from sentvae.metrics import distinct_n
from sentvae.decoding import DEFAULT_LM_WEIGHT, DecodingOptions
from sentvae.pipeline import VAEPipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import hardware  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GOAL = 0.90


def run_train_config(model_dir: str) -> TrainConfig:
    """How the run was trained (its checkpoint's train_config.json; the defaults when absent)."""
    directory = resolve_checkpoint(model_dir)
    return read_train_config(directory) if (directory / TRAIN_CONFIG_FILE).is_file() else TrainConfig()


def share(texts: list[str]) -> float:
    return sum(is_grammatical(t) for t in texts) / len(texts)


def diversity(texts: list[str]) -> dict:
    return {"distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
            "mean_words": sum(len(t.split()) for t in texts) / len(texts),
            "unique_sentences": len(set(texts)) / len(texts)}


def interpolation_points(model, sentences: list[str], pairs: int, steps: int, seed: int) -> list[str]:
    """Texts of every point of `pairs` interpolations between random distinct test sentences."""
    rng = random.Random(seed)
    texts = []
    for _ in range(pairs):
        first, second = rng.sample(sentences, 2)
        texts += [r.text for r in model.interpolate(first, second, steps=steps)]
    return texts


def throughput(model, options: DecodingOptions, seed: int, repeats: int, codes: int = 256, batch: int = 64) -> dict:
    """Sentences/s of decoding `codes` prior codes in batches of `batch`: warm-up, then the median."""
    z = torch.randn(codes, model.cfg.latent_dim, generator=torch.Generator().manual_seed(seed))
    model.generate(z[:batch], options, batch_size=batch, seed=seed)  # warm-up
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.generate(z, options, batch_size=batch, seed=seed)
        rates.append(codes / (time.perf_counter() - started))
    return {"sentences_per_s": statistics.median(rates), "min": min(rates), "max": max(rates),
            "repeats": repeats, "codes": codes, "batch": batch}


def decoding_speeds(model, seed: int, repeats: int) -> dict:
    """`throughput` of greedy decoding, sampling and beam search (width 5)."""
    return {name: throughput(model, options, seed, repeats)
            for name, options in (("greedy", DecodingOptions()), ("sample", DecodingOptions("sample")),
                                  ("beam5", DecodingOptions("beam", beam=5)))}


def speed_lines(payload: dict) -> list[str]:
    """Markdown: the decoding-speed table, how it was measured, and the command."""
    s, hw = payload["throughput"], payload["hardware"]
    lines = ["| decoding, batch 64 | sentences/s (median) | range |", "|---|---:|---:|"]
    for name, label in (("greedy", "greedy"), ("sample", "sampling"), ("beam5", "beam search, width 5")):
        lines.append(f"| {label} | {s[name]['sentences_per_s']:,.0f} | "
                     f"{s[name]['min']:,.0f}-{s[name]['max']:,.0f} |")
    return lines + ["", f"Throughput: {s['greedy']['codes']} prior codes per repetition, one warm-up, median of "
                    f"{s['greedy']['repeats']}; {hw['cpu']}, {hw['logical_cores']} logical cores, "
                    f"{hw['torch_threads']} torch thread(s), 1-min load average {hw['load_average_1min']:.1f} "
                    "when it finished.", "", f"Command: `{payload['command']}`", ""]


def measure(args) -> dict:
    model = VAEPipeline.from_pretrained(args.model)
    if args.fusion_lm:
        model.fuse_with(VAEPipeline.from_pretrained(args.fusion_lm), args.lm_weight)
    train_cfg = run_train_config(args.model)
    seed = train_cfg.seed
    started = time.perf_counter()

    beam5 = DecodingOptions("beam", beam=5)
    greedy_records = model.sample(1000, seed=args.seed)
    sampled = [r.text for r in model.sample(1000, DecodingOptions("sample", temperature=1.0), seed=args.seed)]
    beam_records = model.sample(1000, beam5, seed=args.seed)
    greedy, beam = [r.text for r in greedy_records], [r.text for r in beam_records]
    # The same sentences taken once more through the autoencoder: what `sample --refine 1` gives.
    greedy_refined = [r.text for r in model.refine(greedy_records, seed=args.seed)]
    beam_refined = [r.text for r in model.refine(beam_records, beam5, seed=args.seed)]
    test = [s.text for s in splits(train=0, valid=0, test=1000, seed=seed + 1)["test"]]
    points = interpolation_points(model, test, args.pairs, args.steps, args.seed)
    training_texts = [s.text for s in splits(train=train_cfg.builtin_train_size, valid=0, test=0,
                                             seed=seed)["train"]]
    # The whole training split as the model's tokenizer writes it: a sample equal to one is a copy.
    training = {model.tokenizer.decode(ids) for ids in model.tokenizer.encode_batch(training_texts)}
    real = training_texts[:1000]  # a split's first sentences do not depend on its size (corpus.splits)
    quality_seconds = time.perf_counter() - started

    speed = decoding_speeds(model, args.seed, args.repeats)
    grammatical = {"greedy_prior_samples": share(greedy), "interpolation_points": share(points),
                   "sampled_prior_samples": share(sampled), "beam5_prior_samples": share(beam),
                   "greedy_refined_prior_samples": share(greedy_refined),
                   "beam5_refined_prior_samples": share(beam_refined),
                   "real_training_sentences": share(real)}
    samples = {"greedy": greedy, "sampled (temperature 1)": sampled, "beam 5": beam,
               "greedy, refined once": greedy_refined, "beam 5, refined once": beam_refined}
    return {
        "benchmark": "generation",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + shlex.join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "model": str(resolve_checkpoint(args.model)), "run_seed": seed, "seed": args.seed,
        "fusion": ({"lm": str(resolve_checkpoint(args.fusion_lm)), "weight": args.lm_weight}
                   if args.fusion_lm else None),
        "settings": {"prior_samples": 1000, "interpolations": args.pairs, "steps": args.steps,
                     "interpolation_method": "linear", "test_sentences": f"splits(seed={seed + 1})['test'][:1000]",
                     "real_sentences": f"splits(seed={seed})['train'][:1000]"},
        "grammatical": grammatical,
        "goals": {"greedy_prior_samples >= 0.90": grammatical["greedy_prior_samples"] >= GOAL,
                  "interpolation_points >= 0.90": grammatical["interpolation_points"] >= GOAL},
        "diversity": {**{name: diversity(texts) for name, texts in samples.items()},
                      "real training sentences": diversity(real)},
        # How many samples are sentences of the training split, word for word (not new sentences).
        "training_copies": {name: sum(t in training for t in texts) / len(texts) for name, texts in samples.items()},
        "throughput": speed,
        "examples": {"greedy": greedy[:5], "sampled": sampled[:5], "interpolation": points[:args.steps]},
        "quality_seconds": quality_seconds,
        "hardware": hardware(),
    }


def markdown(payload: dict) -> str:
    g, d = payload["grammatical"], payload["diversity"]
    settings = payload["settings"]
    lines = ["## Generation on the built-in corpus", "",
             f"Model `{payload['model']}`; seed {payload['seed']}."
             + (f" Prior samples and the points inside interpolations decoded with the language model "
                f"`{payload['fusion']['lm']}` fused in (weight {payload['fusion']['weight']:g})."
                if payload.get("fusion") else ""), "",
             "| grammatical (corpus recogniser) | share | goal |", "|---|---:|---|",
             f"| 1,000 greedy prior samples | {100 * g['greedy_prior_samples']:.1f}% | >= 90%: "
             f"{'met' if payload['goals']['greedy_prior_samples >= 0.90'] else '**not met**'} |",
             f"| all {settings['interpolations'] * settings['steps']:,} points of {settings['interpolations']} "
             f"interpolations ({settings['steps']} steps) between test sentences | "
             f"{100 * g['interpolation_points']:.1f}% | >= 90%: "
             f"{'met' if payload['goals']['interpolation_points >= 0.90'] else '**not met**'} |",
             f"| 1,000 sampled prior samples (temperature 1) | {100 * g['sampled_prior_samples']:.1f}% | |",
             f"| 1,000 beam-5 prior samples | {100 * g['beam5_prior_samples']:.1f}% | |",
             f"| 1,000 greedy prior samples, refined once (`sample --refine 1`) | "
             f"{100 * g['greedy_refined_prior_samples']:.1f}% | |",
             f"| 1,000 beam-5 prior samples, refined once (what `sentvae demo` prints, with its language "
             f"model fused in) | "
             f"{100 * g['beam5_refined_prior_samples']:.1f}% | |",
             f"| 1,000 real training sentences (sanity check) | {100 * g['real_training_sentences']:.1f}% | |",
             "", "| 1,000 sentences | distinct-1 | distinct-2 | unique sentences | mean words | training sentences |",
             "|---|---:|---:|---:|---:|---:|"]
    copies = payload.get("training_copies", {})
    for name, figures in d.items():
        copied = f"{100 * copies[name]:.1f}%" if name in copies else ""
        lines.append(f"| {name} | {figures['distinct_1']:.3f} | {figures['distinct_2']:.3f} | "
                     f"{100 * figures['unique_sentences']:.1f}% | {figures['mean_words']:.1f} | {copied} |")
    return "\n".join(lines + [""] + speed_lines(payload))


# --- PTB examples for the README ------------------------------------------------------------------

def ptb_examples(args) -> dict:
    """Ten greedy prior samples, three interpolations between real test sentences, and decoding
    sentences/s (greedy, sampling, beam 5 at batch 64) of a model trained on Penn Treebank."""
    model = VAEPipeline.from_pretrained(args.ptb_model)
    test_file = Path(args.ptb_data) / "ptb.test.txt"
    sentences = [" ".join(line.split()) for line in test_file.read_text(encoding="utf-8").splitlines()]
    sentences = [s for s in sentences if 8 <= len(s.split()) <= 20]  # readable lengths
    rng = random.Random(args.seed)
    interpolations = []
    for _ in range(3):
        first, second = rng.sample(sentences, 2)
        points = model.interpolate(first, second, steps=args.steps)
        interpolations.append({"first": first, "second": second,
                               "points": [[r.position, r.text] for r in points]})
    sampled = [r.text for r in model.sample(1000, DecodingOptions("sample", temperature=1.0), seed=args.seed)]
    speed = decoding_speeds(model, args.seed, args.repeats)
    return {
        "benchmark": "generation_ptb",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + shlex.join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "model": str(resolve_checkpoint(args.ptb_model)), "seed": args.seed,
        "prior_samples_greedy": [r.text for r in model.sample(10, seed=args.seed)],
        "interpolations": interpolations, "steps": args.steps,
        "diversity": {"sampled (temperature 1)": diversity(sampled)},
        "throughput": speed,
        "hardware": hardware(),
    }


def ptb_markdown(payload: dict) -> str:
    """The README's Penn Treebank examples and decoding speeds."""
    # Code blocks and spans throughout: Markdown would take `<unk>` for an HTML tag and hide it.
    lines = [f"Ten sentences decoded greedily from z ~ N(0, I) (`{payload['model']}`, seed {payload['seed']}):",
             "", "```"]
    lines += [f"{i:2d}. {text}" for i, text in enumerate(payload["prior_samples_greedy"], start=1)]
    lines.append("```")
    for number, walk in enumerate(payload["interpolations"], start=1):
        lines += ["", f"Interpolation {number} ({payload['steps']} steps, linear, greedy) between two "
                  "PTB test sentences:", "", f"- A: `{walk['first']}`", f"- B: `{walk['second']}`", "", "```"]
        lines += [f"{position:.2f}  {text}" for position, text in walk["points"]]
        lines.append("```")
    d = payload["diversity"]["sampled (temperature 1)"]
    lines += ["", f"1,000 prior samples at temperature 1: distinct-1 {d['distinct_1']:.3f}, distinct-2 "
              f"{d['distinct_2']:.3f}, {100 * d['unique_sentences']:.1f}% unique, {d['mean_words']:.1f} words "
              "on average.", ""]
    return "\n".join(lines + speed_lines(payload))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", default="runs/demo", help="run or checkpoint directory (default runs/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    parser.add_argument("--pairs", type=int, default=100, help="interpolations between test sentences (default 100)")
    parser.add_argument("--steps", type=int, default=8, help="points per interpolation, ends included (default 8)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per strategy (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--fusion-lm", metavar="CKPT",
                        help="decode prior samples and interpolation points with this language model fused in "
                             "(sentvae demo trains one next to its VAE: runs/demo_lm)")
    parser.add_argument("--lm-weight", type=float, default=DEFAULT_LM_WEIGHT,
                        help=f"with --fusion-lm: its weight (default {DEFAULT_LM_WEIGHT})")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "generation.json"),
                        help="results file (default benchmarks/results/generation.json)")
    parser.add_argument("--ptb-model", help="instead: README examples and decoding speed of this PTB model "
                        "(writes generation_ptb.json/.md next to --out)")
    parser.add_argument("--ptb-data", help="directory with ptb.test.txt (with --ptb-model)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.ptb_model:
        if not args.ptb_data:
            parser.error("--ptb-model needs --ptb-data")
        payload = ptb_examples(args)
        out = Path(args.out).with_name("generation_ptb.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        markdown_text = ptb_markdown(payload)
        out.with_suffix(".md").write_text(markdown_text, encoding="utf-8")
        print(markdown_text, end="")
        return 0
    payload = measure(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())

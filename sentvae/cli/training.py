"""`sentvae train` and `sentvae demo`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .common import add_encoding_errors, set_override


def train_overrides(args) -> list[str]:
    """The config overrides a parsed `sentvae train` command line stands for: its `--set` items,
    then its file, output, device, thread, seed and encoding flags (which win)."""
    overrides = list(args.set or [])
    for flag, key in (("train", "train_file"), ("valid", "valid_file"), ("test", "test_file"),
                      ("out", "out_dir"), ("device", "device"), ("threads", "threads"),
                      ("seed", "seed"), ("encoding_errors", "encoding_errors")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(set_override(f"train.{key}", value))
    return overrides


def cmd_train(args) -> int:
    """Train; exit status 128 + N when signal N (Ctrl-C: 130) stopped it after saving."""
    from ..config import load_config
    from ..data import check_input_files

    overrides = train_overrides(args)
    config_path = args.config
    if args.resume and config_path is None and args.out is not None:
        saved = Path(args.out) / "config.resolved.yaml"
        config_path = saved if saved.exists() else None
    model_cfg, train_cfg = load_config(config_path, overrides)
    check_input_files(train_cfg)  # bad input fails here, before torch is imported
    from ..run import prepare_run_dir

    prepare_run_dir(train_cfg.out_dir, resume=args.resume)
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch_distributed(args.nproc, args.argv)

    from ..train import train

    summary = train(model_cfg, train_cfg, resume=args.resume, progress=not args.quiet)
    return _interrupted_status(summary) if summary.get("stopped") == "interrupted" else 0


def _launch_distributed(nproc: int, argv: list[str]) -> int:
    """Run this same `sentvae train` command under torchrun with `nproc` processes."""
    import subprocess

    rest, skip = [], False
    for item in argv:  # drop --nproc N / --nproc=N
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            rest.append(item)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "sentvae", *rest]
    return subprocess.run(command).returncode


def _interrupted_status(summary: dict) -> int:
    """128 + the signal that stopped training (Ctrl-C: 130, SIGTERM: 143), as shells do."""
    import signal

    return 128 + getattr(signal, summary.get("signal", ""), signal.SIGINT)


DEMO_BEAM = 10  # beam width for the demo's reconstructions and interpolation points
DEMO_SAMPLE_BEAM = 5  # beam width for the demo's prior samples
# The demo's language model: the VAE's decoder without a latent, one epoch of the same sentences.
# Settings the user's --set can change come first.
DEMO_LM_DEFAULTS = ["train.max_epochs=1"]
DEMO_LM_FIXED = ["model.use_latent=false", "model.word_dropout=0", "train.kl_target=0"]  # no code, no rate


def cmd_demo(args) -> int:
    """Train on the built-in corpus, then print samples, reconstructions and an interpolation."""
    from ..config import load_config
    from ..corpus import is_grammatical, splits
    from ..decoding import DEFAULT_LM_WEIGHT, DecodingOptions
    from ..pipeline import VAEPipeline
    from ..train import train

    overrides = [set_override("train.out_dir", args.out)] + list(args.set or [])
    model_cfg, train_cfg = load_config(args.config, overrides)
    summary = train(model_cfg, train_cfg, resume=False, progress=not args.quiet)
    if summary.get("stopped") == "interrupted":  # saved; `sentvae train --resume` continues it
        return _interrupted_status(summary)
    # A language model of the same sentences, fused into the decoding of the prior samples and the
    # interpolation points below: a code between the codes of real sentences leaves the decoder
    # unsure, and the language model knows which words may come next (decoding.py, "Fusion";
    # README: 96.8% of greedy samples grammatical instead of 83.4%). Reconstructions and the
    # interpolation's ends are the VAE's alone (VAEPipeline.fuse_with).
    lm_out = f"{args.out}_lm"
    print(f"\ntraining the language model fused into decoding -> {lm_out}")
    lm_cfg, lm_train_cfg = load_config(args.config, DEMO_LM_DEFAULTS + overrides + DEMO_LM_FIXED
                                       + [set_override("train.out_dir", lm_out)])
    summary = train(lm_cfg, lm_train_cfg, resume=False, progress=not args.quiet)
    if summary.get("stopped") == "interrupted":
        return _interrupted_status(summary)
    vae = VAEPipeline.from_pretrained(args.out).fuse_with(VAEPipeline.from_pretrained(lm_out), DEFAULT_LM_WEIGHT)
    # Samples: beam search, then each sentence taken once more through the autoencoder (its
    # re-encoding decoded again), which makes more of them sentences of the corpus (README,
    # generation on the built-in corpus).
    samples = vae.sample(1000, DecodingOptions("beam", beam=DEMO_SAMPLE_BEAM), seed=0, refine=1)
    share = sum(is_grammatical(s.text) for s in samples) / len(samples)
    prior = "the mixture fitted to the training codes" if vae.prior is not None else "N(0, I)"
    print(f"\nprior samples and interpolation points below are decoded with the language model fused in "
          f"(weight {DEFAULT_LM_WEIGHT}: sentvae sample -m {args.out} --fusion-lm {lm_out}); reconstructions "
          "and the interpolation's ends by the VAE alone")
    print(f"\nten sentences from the prior (z drawn from {prior}, beam search of width {DEMO_SAMPLE_BEAM}, "
          "refined once through the autoencoder):")
    for s in samples[:10]:
        print(f"  {'ok ' if is_grammatical(s.text) else 'BAD'}  {s.text}")
    print(f"grammatical: {100 * share:.1f}% of 1,000 prior samples")
    test = [s.text for s in splits(train=1, valid=1, test=200, seed=train_cfg.seed + 1)["test"]]
    # The codes of given sentences: beam search re-ranked by re-encoding, so that the sentence
    # that encodes back to the code wins (README, rate section: 78.8% exact against 64.3% greedy).
    sentence_decoding = DecodingOptions("beam", beam=DEMO_BEAM, rerank=True)
    rebuilt = vae.reconstruct(test, sentence_decoding)
    same = [r.text == t for r, t in zip(rebuilt, test)]
    print(f"\nreconstructions of new sentences (beam search of width {DEMO_BEAM} from the posterior mean, "
          "re-ranked by re-encoding):")
    for r, t, back_again in list(zip(rebuilt, test, same))[:5]:
        print(f"  {'same' if back_again else 'DIFF'}  {t}\n        -> {r.text}")
    print(f"exact: {100 * sum(same) / len(test):.1f}% of {len(test)} test sentences come back word for word")
    # Two sentences of different lengths, preferably ones that come back from their codes (so that
    # the path starts and ends at them); said which, since that is a choice.
    back = [t for t, back_again in zip(test, same) if back_again]
    pool, why = (back, "the first two that come back from their codes") if len(back) >= 2 else (test, "the first two")
    first = pool[0]
    second = next((t for t in pool[1:] if len(t.split()) != len(first.split())), pool[1])
    print(f"\ninterpolation between {why} of those sentences (of different lengths; every point "
          f"decoded as above)\n  A: {first}\n  B: {second}")
    points = vae.interpolate(first, second, steps=8, options=sentence_decoding)
    for r in points:
        print(f"  {r.position:.2f}  {r.text}")
    ends = [("A", first, points[0].text), ("B", second, points[-1].text)]
    print("ends: " + "; ".join(f"{name} {'comes back' if text == point else 'does not come back'}"
                               for name, text, point in ends)
          + f"; {sum(is_grammatical(r.text) for r in points)} of {len(points)} points grammatical")
    return 0


def add_train_parser(sub) -> None:
    """The `train` subcommand."""
    p = sub.add_parser("train", help="train a model (with no data: the built-in corpus)")
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument("--train", help="training corpus: .txt, .jsonl, .csv, .tsv, .parquet or hub name")
    p.add_argument("--valid", help="validation corpus (default: a seeded split of --train)")
    p.add_argument("--test", help="test corpus (optional)")
    p.add_argument("--out", help="run directory (default: train.out_dir of the config)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--nproc", type=int, default=1,
                   help="processes for DistributedDataParallel (gloo on CPU, NCCL on GPUs); "
                        "same as torchrun --nproc_per_node N -m sentvae train ...")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_encoding_errors(p)
    p.set_defaults(func=cmd_train)


def add_demo_parser(sub) -> None:
    """The `demo` subcommand."""
    p = sub.add_parser("demo", help="train on the built-in corpus, then show samples and an interpolation")
    p.add_argument("--config", default="demo",
                   help="YAML config, or the name of a shipped one (default demo: configs/demo.yaml)")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

"""The `sentvae` command: argparse subcommands, each a few lines that call the library.

Errors the user can fix (`SentvaeError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import SentvaeError

REPO_CONFIGS = Path(__file__).resolve().parent.parent / "configs"


# --- shared options --------------------------------------------------------------------------

def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", required=True,
                        help="checkpoint directory, or run directory (its best checkpoint is used)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def _add_strategy(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--strategy", default="greedy", help="greedy, sample or beam (default greedy)")
    group.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    group.add_argument("--top-k", type=int, default=0, help="sample from the k most likely tokens (0: all)")
    group.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: off)")
    group.add_argument("--max-length", type=int, default=None, help="longest output in tokens")
    group.add_argument("--suppress-unk", action="store_true", help="never output <unk>")
    group.add_argument("--seed", type=int, default=None, help="random seed (reproducible output)")
    group.add_argument("--format", choices=("text", "jsonl"), default="text",
                       help="plain lines, or one JSON object per output")


def _strategy(args) -> dict:
    return {"strategy": args.strategy, "temperature": args.temperature, "top_k": args.top_k,
            "top_p": args.top_p, "max_length": args.max_length, "suppress_unk": args.suppress_unk}


def _load(args):
    from .model import SentenceVAE

    return SentenceVAE.from_pretrained(args.model, device=args.device)


def _emit(results, fmt: str, text_line) -> None:
    for result in results:
        if fmt == "jsonl":
            record = {k: v for k, v in vars(result).items() if v is not None and v != {}}
            print(json.dumps(record))
        else:
            print(text_line(result))


def _read_lines(path: str) -> list[str]:
    from .data import check_readable_file

    file = check_readable_file(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = file.read_bytes()[: exc.start].count(b"\n") + 1
        raise SentvaeError(f"{file}:{line}: not valid UTF-8") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise SentvaeError(f"{file}: no non-blank lines")
    return texts


# --- subcommands -------------------------------------------------------------------------------

def cmd_train(args) -> int:
    from .config import load_config
    from .train import train

    overrides = list(args.set or [])
    for flag, key in (("train", "train_file"), ("valid", "valid_file"), ("test", "test_file"),
                      ("out", "out_dir"), ("device", "device"), ("threads", "threads"),
                      ("seed", "seed")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"train.{key}={value}")
    config_path = args.config
    if args.resume and config_path is None and args.out is not None:
        saved = Path(args.out) / "config.resolved.yaml"
        config_path = saved if saved.exists() else None
    model_cfg, train_cfg = load_config(config_path, overrides)
    train(model_cfg, train_cfg, resume=args.resume, progress=not args.quiet)
    return 0


def cmd_sample(args) -> int:
    model = _load(args)
    results = model.sample(args.num, z_scale=args.z_scale, seed=args.seed, **_strategy(args))
    _emit(results, args.format, lambda r: r.text)
    return 0


def cmd_reconstruct(args) -> int:
    from .metrics import corpus_bleu

    if bool(args.input) == bool(args.texts):
        raise SentvaeError("give sentences as arguments or --input FILE (one of the two)")
    texts = _read_lines(args.input) if args.input else args.texts
    model = _load(args)
    results = model.reconstruct(texts, sample_z=args.sample_z, seed=args.seed, **_strategy(args))
    _emit(results, args.format, lambda r: f"{r.source}\t->\t{r.text}")
    if args.input:
        outputs = [r.text for r in results]
        normalised = [" ".join(model.tokenizer.tokens(t)) for t in texts]
        exact = sum(o == s for o, s in zip(outputs, normalised)) / len(texts)
        summary = {"sentences": len(texts), "bleu": corpus_bleu(outputs, normalised),
                   "exact_match": exact}
        print(json.dumps(summary) if args.format == "jsonl" else
              f"# {len(texts)} sentences: BLEU {summary['bleu']:.2f}, exact match {100 * exact:.1f}%",
              file=sys.stderr if args.format == "jsonl" else sys.stdout)
    return 0


def cmd_interpolate(args) -> int:
    if not args.prior and len(args.sentences) != 2:
        raise SentvaeError("interpolate needs two sentences (or --prior)")
    model = _load(args)
    first, second = (args.sentences + [None, None])[:2] if not args.prior else (None, None)
    results = model.interpolate(first, second, steps=args.steps, method=args.method,
                                prior=args.prior, seed=args.seed, unique=args.unique,
                                **_strategy(args))
    _emit(results, args.format, lambda r: f"{r.position:.2f}\t{r.text}")
    return 0


def cmd_demo(args) -> int:
    """Train on the built-in corpus, then print samples, reconstructions and an interpolation."""
    from .config import load_config
    from .corpus import is_grammatical, splits
    from .model import SentenceVAE
    from .train import train

    overrides = [f"train.out_dir={args.out}"] + list(args.set or [])
    model_cfg, train_cfg = load_config(args.config, overrides)
    train(model_cfg, train_cfg, resume=False, progress=not args.quiet)
    model = SentenceVAE.from_pretrained(args.out)
    samples = model.sample(1000, seed=0)
    share = sum(is_grammatical(s.text) for s in samples) / len(samples)
    print("\nten sentences from the prior (greedy decoding of z ~ N(0, I)):")
    for s in samples[:10]:
        print(f"  {'ok ' if is_grammatical(s.text) else 'BAD'}  {s.text}")
    print(f"grammatical: {100 * share:.1f}% of 1,000 prior samples")
    test = [s.text for s in splits(train=1, valid=1, test=50, seed=train_cfg.seed + 1)["test"]]
    first, second = test[0], next(t for t in test[1:] if len(t.split()) != len(test[0].split()))
    print(f"\ninterpolation between\n  A: {first}\n  B: {second}")
    for r in model.interpolate(first, second, steps=8):
        print(f"  {r.position:.2f}  {r.text}")
    return 0


# --- parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sentvae", description="Sentence-level variational autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model (with no data: the built-in corpus)")
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument("--train", help="training corpus: .txt, .jsonl, .csv, .tsv, .parquet or hub name")
    p.add_argument("--valid", help="validation corpus (default: a seeded split of --train)")
    p.add_argument("--test", help="test corpus (optional)")
    p.add_argument("--out", help="run directory (default: train.out_dir of the config)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="sentences decoded from the prior")
    _add_model(p)
    p.add_argument("-n", "--num", type=int, default=10, help="how many sentences")
    p.add_argument("--z-scale", type=float, default=1.0, help="draw z ~ N(0, S^2 I)")
    _add_strategy(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("reconstruct", help="encode sentences and decode them back")
    _add_model(p)
    p.add_argument("texts", nargs="*", help="sentences")
    p.add_argument("--input", help="file with one sentence per line (also prints BLEU and exact match)")
    p.add_argument("--sample-z", action="store_true", help="decode a posterior sample, not the mean")
    _add_strategy(p)
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("interpolate", help="walk the latent space between two sentences")
    _add_model(p)
    p.add_argument("sentences", nargs="*", help="first and second sentence")
    p.add_argument("--steps", type=int, default=8, help="points on the path, ends included")
    p.add_argument("--method", choices=("linear", "slerp"), default="linear", help="path shape")
    p.add_argument("--prior", action="store_true", help="between two random prior points instead")
    p.add_argument("--unique", action="store_true", help="collapse consecutive repeats")
    _add_strategy(p)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("demo", help="train on the built-in corpus, then show samples and an interpolation")
    p.add_argument("--config", default=str(REPO_CONFIGS / "demo.yaml"), help="config (default configs/demo.yaml)")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SentvaeError as exc:
        print(f"sentvae {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sentvae {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

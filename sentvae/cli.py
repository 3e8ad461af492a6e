"""The `sentvae` command: argparse subcommands, each a few lines that call the library.

Errors the user can fix (`SentvaeError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import ArgumentError, SentvaeError


# --- shared options --------------------------------------------------------------------------

def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", required=True,
                        help="checkpoint directory, or run directory (its best checkpoint is used)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.set_defaults(check_model=True)  # main() checks the checkpoint before slow imports


def _add_strategy(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--strategy", choices=("greedy", "sample", "beam"), default=None,
                       help="decoding strategy (default: greedy, or the one the flags below imply)")
    group.add_argument("--temperature", type=float, default=None, help="sample: temperature (default 1)")
    group.add_argument("--top-k", type=int, default=None, help="sample: only the k most likely tokens (0: all)")
    group.add_argument("--top-p", type=float, default=None, help="sample: nucleus mass in (0, 1] (1: off)")
    group.add_argument("--beam", type=int, default=None, metavar="W", help="beam: width (default 5)")
    group.add_argument("--alpha", type=float, default=None,
                       help="beam: length normalisation ((5+len)/6)^alpha (default 0: raw log-probability)")
    group.add_argument("--n-best", type=int, default=None, metavar="N",
                       help="beam: report the N best hypotheses of each beam (default 1)")
    group.add_argument("--no-repeat-ngram", type=int, default=0, metavar="N",
                       help="never repeat an n-gram of N words in a sentence (0: off)")
    group.add_argument("--max-length", type=int, default=None, help="longest output in words")
    group.add_argument("--suppress-unk", action="store_true", help="never output <unk>")
    group.add_argument("--seed", type=int, default=None, help="random seed (reproducible output)")
    group.add_argument("--format", choices=("text", "jsonl"), default="text",
                       help="plain lines, or one JSON object per output")


_STRATEGY_FLAGS = {"sample": ("temperature", "top_k", "top_p"), "beam": ("beam", "alpha", "n_best")}


def _decoding_options(args):
    """The `DecodingOptions` of the command line, validated before any model is loaded."""
    from .decoding import DecodingOptions

    given = {name: getattr(args, name) for names in _STRATEGY_FLAGS.values() for name in names
             if getattr(args, name) is not None}
    implied = [owner for owner, names in _STRATEGY_FLAGS.items() if set(names) & set(given)]
    strategy = args.strategy or (implied[0] if len(implied) == 1 else "greedy")
    for name in given:
        owner = next(o for o, names in _STRATEGY_FLAGS.items() if name in names)
        if owner != strategy:
            raise ArgumentError(f"--{name.replace('_', '-')} needs --strategy {owner}")
    return DecodingOptions(strategy=strategy, no_repeat_ngram=args.no_repeat_ngram,
                           max_length=args.max_length, suppress_unk=args.suppress_unk,
                           **given)  # raises ArgumentError on a value out of range


def _load(args):
    """The checkpoint of `-m` as a `VAEPipeline` (main() has checked it before torch loads)."""
    from .pipeline import VAEPipeline

    return VAEPipeline.from_pretrained(args.model, device=args.device)


def _emit(results, fmt: str, text_line) -> None:
    for result in results:
        if fmt == "jsonl":
            record = {k: v for k, v in vars(result).items() if v is not None and v != {}}
            print(json.dumps(record))
        else:
            print(text_line(result))
            for rank, other in enumerate(result.extra.get("n_best", [])[1:], start=2):
                print(f"  {rank}. {other['text']}")


def _read_lines(path: str, encoding_errors: str = "strict") -> list[str]:
    from .data import read_lines

    return read_lines(path, encoding_errors)


def _add_encoding_errors(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoding-errors", choices=("strict", "replace"), default=None,
                        help="bytes that are not UTF-8 in input files: strict (stop and name the "
                             "file and line, the default) or replace (read them as U+FFFD)")


def _set(key: str, value) -> str:
    """A `--set` override whose value keeps its type: a path such as `2024` stays a string."""
    return f"{key}={json.dumps(value, ensure_ascii=False)}"


# --- subcommands -------------------------------------------------------------------------------

def cmd_train(args) -> int:
    """Train; exit status 128 + N when signal N (Ctrl-C: 130) stopped it after saving."""
    from .config import load_config
    from .data import check_input_files

    overrides = list(args.set or [])
    for flag, key in (("train", "train_file"), ("valid", "valid_file"), ("test", "test_file"),
                      ("out", "out_dir"), ("device", "device"), ("threads", "threads"),
                      ("seed", "seed"), ("encoding_errors", "encoding_errors")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(_set(f"train.{key}", value))
    config_path = args.config
    if args.resume and config_path is None and args.out is not None:
        saved = Path(args.out) / "config.resolved.yaml"
        config_path = saved if saved.exists() else None
    model_cfg, train_cfg = load_config(config_path, overrides)
    check_input_files(train_cfg)  # bad input fails here, before torch is imported
    from .run import prepare_run_dir

    prepare_run_dir(train_cfg.out_dir, resume=args.resume)
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch_distributed(args.nproc, args.argv)

    from .train import train

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


def cmd_sample(args) -> int:
    options = _decoding_options(args)
    vae = _load(args)
    results = vae.sample(args.num, options, z_scale=args.z_scale, seed=args.seed)
    _emit(results, args.format, lambda r: r.text)
    return 0


def cmd_reconstruct(args) -> int:
    from .metrics import corpus_bleu

    if bool(args.input) == bool(args.texts):
        raise SentvaeError("give sentences as arguments or --input FILE (one of the two)")
    texts = _read_lines(args.input, args.encoding_errors or "strict") if args.input else args.texts
    options = _decoding_options(args)
    vae = _load(args)
    results = vae.reconstruct(texts, options, sample_z=args.sample_z, seed=args.seed)
    _emit(results, args.format, lambda r: f"{r.source}\t->\t{r.text}")
    if args.input:
        outputs = [r.text for r in results]
        normalised = [" ".join(vae.tokenizer.tokens(t)) for t in texts]
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
    options = _decoding_options(args)
    vae = _load(args)
    first, second = (args.sentences + [None, None])[:2] if not args.prior else (None, None)
    results = vae.interpolate(first, second, steps=args.steps, method=args.method, options=options,
                              prior=args.prior, seed=args.seed, unique=args.unique)
    _emit(results, args.format, lambda r: f"{r.position:.2f}\t{r.text}")
    return 0


def cmd_demo(args) -> int:
    """Train on the built-in corpus, then print samples, reconstructions and an interpolation."""
    from .config import load_config
    from .corpus import is_grammatical, splits
    from .pipeline import VAEPipeline
    from .train import train

    overrides = [_set("train.out_dir", args.out)] + list(args.set or [])
    model_cfg, train_cfg = load_config(args.config, overrides)
    summary = train(model_cfg, train_cfg, resume=False, progress=not args.quiet)
    if summary.get("stopped") == "interrupted":  # saved; `sentvae train --resume` continues it
        return _interrupted_status(summary)
    vae = VAEPipeline.from_pretrained(args.out)
    samples = vae.sample(1000, seed=0)
    share = sum(is_grammatical(s.text) for s in samples) / len(samples)
    print("\nten sentences from the prior (greedy decoding of z ~ N(0, I)):")
    for s in samples[:10]:
        print(f"  {'ok ' if is_grammatical(s.text) else 'BAD'}  {s.text}")
    print(f"grammatical: {100 * share:.1f}% of 1,000 prior samples")
    test = [s.text for s in splits(train=1, valid=1, test=50, seed=train_cfg.seed + 1)["test"]]
    first, second = test[0], next(t for t in test[1:] if len(t.split()) != len(test[0].split()))
    print(f"\ninterpolation between\n  A: {first}\n  B: {second}")
    for r in vae.interpolate(first, second, steps=8):
        print(f"  {r.position:.2f}  {r.text}")
    return 0


def cmd_summarize(args) -> int:
    """Summarise groups of reviews through the latent space (see sentvae/summarize.py)."""
    from .summarize import SummaryOptions, read_groups, report, summarize

    defaults = SummaryOptions()
    strategy = {**defaults.strategy, "beam": args.beam}
    if args.no_repeat_ngram is not None:
        strategy["no_repeat_ngram"] = args.no_repeat_ngram
    avoid_numbers = defaults.avoid_numbers if args.avoid_numbers is None else args.avoid_numbers
    options = SummaryOptions(method=args.method, length=args.length, rerank=not args.no_rerank,
                             n_best=args.n_best, max_sentence_tokens=args.max_sentence_tokens,
                             avoid_numbers=avoid_numbers, seed=args.seed, strategy=strategy)
    groups = read_groups(args.input, group_column=args.group_column, text_column=args.text_column,
                         columns=args.columns, references=args.references)
    model = _load(args)
    summaries = summarize(model, groups, options)
    for summary in summaries:
        if summary.message:
            print(f"sentvae summarize: {summary.message}", file=sys.stderr)
        print(summary.text)
    result = report(summaries, groups, options)
    if "evaluation" in result:
        e = result["evaluation"]
        print(f"# {e['groups']} groups: ROUGE-1 {e['rouge1']:.2f}  ROUGE-2 {e['rouge2']:.2f}  "
              f"ROUGE-L {e['rougeL']:.2f}  BLEU {e['bleu']:.2f}  chrF {e['chrf']:.2f}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    return 0 if any(s.text for s in summaries) else 2


def cmd_evaluate(args) -> int:
    """Score a corpus: NLL (importance-weighted, or exact for a language model), ELBO, KL, mutual
    information, active units, reconstruction BLEU and prior-sample diversity."""
    import torch

    from .evaluate import evaluate, format_table, load_evaluation_split

    if args.threads:
        torch.set_num_threads(args.threads)
    vae = _load(args)
    split = load_evaluation_split(vae, args.data, text_column=args.text_column,
                                  max_sentences=args.max_sentences, long_sentences=args.long_sentences,
                                  encoding_errors=args.encoding_errors or "strict")
    results = evaluate(vae, split, iw_samples=args.iw_samples, batch_size=args.batch_size,
                       seed=args.seed, prior_samples=args.prior_samples,
                       echo=lambda line: print(line, file=sys.stderr))
    results.update(model=args.model, data=args.data)
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def cmd_plot(args) -> int:
    """Training curves of a run; KL per dimension and a PCA of posterior means on a corpus."""
    from .evaluate import column_values, load_evaluation_split
    from .pipeline import VAEPipeline
    from .plot import plot_kl_per_dimension, plot_latent_pca, plot_training

    model_dir = args.model or (args.run if args.data else None)
    if args.run is None and model_dir is None:
        raise SentvaeError("plot needs --run RUN (training curves) and/or -m MODEL --data FILE "
                           "(latent-space plots)")
    if model_dir is not None and args.data is None:
        raise SentvaeError("the latent-space plots need --data FILE to encode")
    out = Path(args.out)
    written = []
    if args.run is not None:
        written.append(plot_training(args.run, out / "training.png"))
    if model_dir is not None:
        vae = VAEPipeline.from_pretrained(model_dir, device=args.device)
        if not vae.cfg.has_latent:
            raise SentvaeError(f"{model_dir}: a language model (no latent code) has no latent space to plot")
        split = load_evaluation_split(vae, args.data, text_column=args.text_column,
                                      max_sentences=args.max_sentences,
                                      encoding_errors=args.encoding_errors or "strict")
        labels = column_values(split, args.label_column) if args.label_column else None
        plot_kl_per_dimension(vae.model, split, out / "kl_per_dimension.png")
        written += [out / "kl_per_dimension.png",
                    plot_latent_pca(vae.model, split, labels, out / "latent_pca.png")]
    for path in written:
        print(path)
    return 0


# --- parser ------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with exit status 2, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sentvae", description="Sentence-level variational autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    _add_encoding_errors(p)
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
    _add_encoding_errors(p)
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

    p = sub.add_parser("summarize", help="summarise groups of reviews through the latent space")
    _add_model(p)
    p.add_argument("--input", default="-",
                   help="TSV/CSV/JSONL (a group per row, or a text per row with --group-column), or "
                        "plain text as one group (default: stdin)")
    p.add_argument("--columns", help="text columns of a group, e.g. rev1..rev8 (default: found by name)")
    p.add_argument("--text-column", help="column with one text (or a JSON list of texts) per row")
    p.add_argument("--group-column", help="rows with the same value here form one group")
    p.add_argument("--references", help="human-summary columns (e.g. summ1..summ3): print ROUGE, BLEU, chrF")
    p.add_argument("--method", choices=("mean", "cluster", "medoid"), default="cluster",
                   help="mean: one sentence from the mean code; cluster: decode k-means centroids; "
                        "medoid: the input sentences nearest the centroids (default cluster)")
    p.add_argument("--length", type=int, default=55, metavar="WORDS",
                   help="length budget in words (default 55: the mean human summary of the Yelp dev groups)")
    p.add_argument("--no-rerank", action="store_true",
                   help="keep each centroid's best beam sentence (no input-overlap reranking)")
    p.add_argument("--beam", type=int, default=5, metavar="W", help="beam width (default 5)")
    p.add_argument("--n-best", type=int, default=1, metavar="N",
                   help="rerank: also let the N best beam hypotheses of each code compete (default 1)")
    p.add_argument("--no-repeat-ngram", type=int, default=None, metavar="N",
                   help="never repeat an n-gram of this size within a decoded sentence (default 3; 0: off)")
    p.add_argument("--avoid-numbers", action=argparse.BooleanOptionalAction, default=None,
                   help="never choose a decoded sentence with the corpus's number placeholder "
                        "(default: on; it helped on the Yelp dev groups)")
    p.add_argument("--max-sentence-tokens", type=int, default=0, metavar="N",
                   help="split input sentences longer than N tokens at commas (0: off)")
    p.add_argument("--seed", type=int, default=0, help="seed of k-means and subset sampling")
    p.add_argument("--json", metavar="OUT", help="also write method, chosen sentences and scores as JSON")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("evaluate", help="NLL, perplexity, ELBO, KL, mutual information, active units, BLEU")
    _add_model(p)
    p.add_argument("--data", required=True, help="corpus to score: .txt, .jsonl, .csv, .tsv or .parquet")
    p.add_argument("--text-column", default="text", help="column holding the sentences (default text)")
    p.add_argument("--iw-samples", type=int, default=100, metavar="K",
                   help="importance samples per sentence for the NLL (default 100)")
    p.add_argument("--batch-size", type=int, default=256, metavar="B",
                   help="decoder rows per pass, sentences x importance samples (default 256)")
    p.add_argument("--prior-samples", type=int, default=1000, metavar="N",
                   help="sentences decoded from the prior for distinct-n / self-BLEU (0: skip; default 1000)")
    p.add_argument("--max-sentences", type=int, metavar="N", help="evaluate only the first N sentences")
    p.add_argument("--long-sentences", choices=("keep", "truncate"), default="keep",
                   help="sentences over the model's max_length: score whole (default) or truncate")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    _add_encoding_errors(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("plot", help="PNG plots: training curves, KL per dimension, latent PCA")
    p.add_argument("-m", "--model", help="checkpoint or run directory for the latent plots (default: --run)")
    p.add_argument("--run", help="training run directory: plot its metrics.jsonl")
    p.add_argument("--data", help="corpus to encode for the latent plots")
    p.add_argument("--text-column", default="text", help="column holding the sentences (default text)")
    p.add_argument("--label-column", help="colour the PCA by this column (e.g. label)")
    p.add_argument("--max-sentences", type=int, metavar="N", help="encode only the first N sentences")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--out", default="plots", help="output directory (default plots)")
    _add_encoding_errors(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("demo", help="train on the built-in corpus, then show samples and an interpolation")
    p.add_argument("--config", default="demo",
                   help="YAML config, or the name of a shipped one (default demo: configs/demo.yaml)")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if getattr(args, "check_model", False):
            from .checkpoint import check_checkpoint

            check_checkpoint(args.model)  # a broken checkpoint fails fast, before torch loads
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

"""What the subcommands share: the model and decoding options, output, input files, --set."""

from __future__ import annotations

import argparse
import json

from ..errors import ArgumentError

DEFAULT_LM_WEIGHT = 0.5  # --lm-weight with --fusion-lm: decoding.DEFAULT_LM_WEIGHT (not imported: it loads torch)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", required=True,
                        help="checkpoint directory, or run directory (its best checkpoint is used)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.set_defaults(check_model=True)  # main() checks the checkpoint before slow imports


def add_prior_draw_options(parser: argparse.ArgumentParser) -> None:
    """--z-scale and --refine: how prior samples are drawn and refined (`sample`, `evaluate`)."""
    parser.add_argument("--z-scale", type=float, default=1.0, metavar="S",
                        help="spread of the prior codes: N(0, S^2 I), or each fitted component's covariance "
                             "times S^2 (default 1; < 1: more typical, less varied sentences)")
    parser.add_argument("--refine", type=int, default=0, metavar="N",
                        help="take each prior sample N times through the autoencoder: encode it, decode its "
                             "code again (default 0; 1 makes more of them sentences of the corpus, README)")


def add_decoding_options(parser: argparse.ArgumentParser, fusion: bool = True) -> None:
    """The decoding flags; `fusion`: also --fusion-lm / --lm-weight (not for `reconstruct`: the
    codes of given sentences are decoded by the VAE alone, `VAEPipeline.fuse_with`)."""
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
    group.add_argument("--rerank", action="store_true", default=None,
                       help="beam: re-order each beam by log p(x | z) + log q(z | x), the sentence "
                            "that encodes back to its code first (reconstruct; interpolate: its ends)")
    group.add_argument("--no-repeat-ngram", type=int, default=0, metavar="N",
                       help="never repeat an n-gram of N words in a sentence (0: off)")
    group.add_argument("--max-length", type=int, default=None, help="longest output in words")
    group.add_argument("--suppress-unk", action="store_true", help="never output <unk>")
    group.add_argument("--seed", type=int, default=None, help="random seed (reproducible output)")
    group.add_argument("--format", choices=("text", "jsonl"), default="text",
                       help="plain lines, or one JSON object per output")
    if fusion:
        add_fusion_options(group)


def add_fusion_options(parser) -> None:
    """--fusion-lm and --lm-weight: a language model fused into every decoding step."""
    parser.add_argument("--fusion-lm", metavar="CKPT",
                        help="a language model (latent_dim 0, same vocabulary) fused into every decoding "
                             "step of codes that are not a given sentence's (samples, the points of an "
                             "interpolation between its ends): tokens are chosen from (1 - W) log p(w | z) "
                             "+ W log p_LM(w) (README)")
    parser.add_argument("--lm-weight", type=float, default=None, metavar="W",
                        help=f"with --fusion-lm: its weight W in [0, 1) (default {DEFAULT_LM_WEIGHT})")


_STRATEGY_FLAGS = {"sample": ("temperature", "top_k", "top_p"), "beam": ("beam", "alpha", "n_best", "rerank")}


def decoding_options(args):
    """The `DecodingOptions` of the command line, validated before any model is loaded."""
    from ..decoding import DecodingOptions

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


def load_pipeline(args):
    """The checkpoint of `-m` as a `VAEPipeline` (main() has checked it before torch loads), fused
    with the language model of --fusion-lm when the command has that option and it is given."""
    from ..pipeline import VAEPipeline

    fusion_lm, weight = getattr(args, "fusion_lm", None), getattr(args, "lm_weight", None)
    if weight is not None and fusion_lm is None:
        raise ArgumentError("--lm-weight needs --fusion-lm CKPT")
    weight = DEFAULT_LM_WEIGHT if weight is None else weight
    if fusion_lm is not None:  # both checked before the models load
        from ..checkpoint import check_checkpoint
        from ..decoding import check_lm_weight

        try:
            check_lm_weight(weight)
        except ArgumentError as exc:
            raise ArgumentError(f"--lm-weight: {exc}") from None
        check_checkpoint(fusion_lm)
    vae = VAEPipeline.from_pretrained(args.model, device=args.device)
    if fusion_lm is not None:
        lm = VAEPipeline.from_pretrained(fusion_lm, device=args.device)
        try:
            vae.fuse_with(lm, weight)
        except ArgumentError as exc:
            raise ArgumentError(f"--fusion-lm {fusion_lm}: {exc}") from None
    return vae


def emit(results, fmt: str, text_line) -> None:
    for result in results:
        if fmt == "jsonl":
            record = {k: v for k, v in vars(result).items() if v is not None and v != {}}
            print(json.dumps(record))
        else:
            print(text_line(result))
            for rank, other in enumerate(result.extra.get("n_best", [])[1:], start=2):
                print(f"  {rank}. {other['text']}")


def read_lines(path: str, encoding_errors: str = "strict") -> list[str]:
    from ..data import read_lines

    return read_lines(path, encoding_errors)


def add_encoding_errors(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoding-errors", choices=("strict", "replace"), default=None,
                        help="bytes that are not UTF-8 in input files: strict (stop and name the "
                             "file and line, the default) or replace (read them as U+FFFD)")


def set_override(key: str, value) -> str:
    """A `--set` override whose value keeps its type: a path such as `2024` stays a string."""
    return f"{key}={json.dumps(value, ensure_ascii=False)}"

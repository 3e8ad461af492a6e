"""`sentvae sample`, `reconstruct` and `interpolate`: text from latent codes."""

from __future__ import annotations

import json
import sys

from ..errors import SentvaeError
from .common import (add_decoding_options, add_encoding_errors, add_model_options, add_prior_draw_options,
                     decoding_options, emit, load_pipeline, read_lines)


def cmd_sample(args) -> int:
    options = decoding_options(args)
    vae = load_pipeline(args)
    results = vae.sample(args.num, options, z_scale=args.z_scale, seed=args.seed, prior=args.prior,
                         refine=args.refine)
    emit(results, args.format, lambda r: r.text)
    return 0


def cmd_reconstruct(args) -> int:
    from ..metrics import corpus_bleu

    if bool(args.input) == bool(args.texts):
        raise SentvaeError("give sentences as arguments or --input FILE (one of the two)")
    texts = read_lines(args.input, args.encoding_errors or "strict") if args.input else args.texts
    options = decoding_options(args)
    vae = load_pipeline(args)
    results = vae.reconstruct(texts, options, sample_z=args.sample_z, seed=args.seed)
    emit(results, args.format, lambda r: f"{r.source}\t->\t{r.text}")
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
    options = decoding_options(args)
    vae = load_pipeline(args)
    first, second = (args.sentences + [None, None])[:2] if not args.prior else (None, None)
    results = vae.interpolate(first, second, steps=args.steps, method=args.method, options=options,
                              prior=args.prior, seed=args.seed, unique=args.unique)
    emit(results, args.format, lambda r: f"{r.position:.2f}\t{r.text}")
    return 0


def add_parsers(sub) -> None:
    """The `sample`, `reconstruct` and `interpolate` subcommands."""
    p = sub.add_parser("sample", help="sentences decoded from the prior")
    add_model_options(p)
    p.add_argument("-n", "--num", type=int, default=10, help="how many sentences")
    p.add_argument("--prior", choices=("fitted", "standard"), default=None,
                   help="where codes come from: the mixture fitted to the training codes, or N(0, I) "
                        "(default: fitted when the checkpoint has one)")
    add_prior_draw_options(p)
    add_decoding_options(p)
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("reconstruct", help="encode sentences and decode them back")
    add_model_options(p)
    p.add_argument("texts", nargs="*", help="sentences")
    p.add_argument("--input", help="file with one sentence per line (also prints BLEU and exact match)")
    p.add_argument("--sample-z", action="store_true", help="decode a posterior sample, not the mean")
    add_encoding_errors(p)
    add_decoding_options(p, fusion=False)
    p.set_defaults(func=cmd_reconstruct)
    p = sub.add_parser("interpolate", help="walk the latent space between two sentences")
    add_model_options(p)
    p.add_argument("sentences", nargs="*", help="first and second sentence")
    p.add_argument("--steps", type=int, default=8, help="points on the path, ends included")
    p.add_argument("--method", choices=("linear", "slerp"), default="linear", help="path shape")
    p.add_argument("--prior", action="store_true", help="between two random prior points instead")
    p.add_argument("--unique", action="store_true", help="collapse consecutive repeats")
    add_decoding_options(p)
    p.set_defaults(func=cmd_interpolate)

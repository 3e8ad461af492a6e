"""The `sentvae` command: argparse subcommands, each a few lines that call the library.

    training.py     train, demo
    generation.py   sample, reconstruct, interpolate
    analysis.py     summarize, evaluate, plot
    common.py       the options they share (model, decoding, input files, --set)

Errors the user can fix (`SentvaeError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import SentvaeError
from . import analysis, generation, training


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with exit status 2, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sentvae", description="Sentence-level variational autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training.add_train_parser(sub)
    generation.add_parsers(sub)
    analysis.add_parsers(sub)
    training.add_demo_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if getattr(args, "check_model", False):
            from ..checkpoint import check_checkpoint

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

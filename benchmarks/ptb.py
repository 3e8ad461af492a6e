"""Penn Treebank: the sentence VAE of configs/ptb.yaml against a GRU language model.

    python benchmarks/ptb.py --data ../shared/data/ptb                 # train both, evaluate, report
    python benchmarks/ptb.py --data ../shared/data/ptb --reuse         # keep finished trainings

Both models have the same decoder and the same wall-clock budget; they train at the same time in
two `sentvae train` processes (one thread each by default). The language model is the VAE's config
with `model.use_latent=false` and no word dropout. Each best checkpoint is evaluated on the test
split: the VAE's NLL is importance-weighted (K = --iw-samples, an upper bound), the language
model's exact. Writes benchmarks/results/ptb.json and ptb.md.

Goals on the test split (from the issue): IW-NLL (K >= 100) <= 99.0 nats per sentence with
KL >= 5 and at least half of the latent dimensions active; the VAE's NLL no worse than the
language model's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (ModelSpec, add_protocol_arguments, echo, fail, goal, markdown_report,  # noqa: E402
                    run_protocol, write_results)

NLL_TARGET = 99.0  # nats per sentence, IW with K >= 100
KL_TARGET = 5.0
SPECS = [ModelSpec("vae", "VAE"),
         ModelSpec("lm", "LM baseline", ["model.use_latent=false", "model.word_dropout=0"])]


def ptb_goals(models: dict) -> list[dict]:
    """The issue's goals, each with its measured value and whether it is met."""
    vae = models["vae"]["evaluation"]["results"]
    lm = models["lm"]["evaluation"]["results"]
    k = vae["iw_samples"]
    half = vae["latent_dim"] // 2
    return [
        goal(f"VAE IW-NLL per sentence (K = {k})", vae["nll_per_sentence"], f"<= {NLL_TARGET} with K >= 100",
             k >= 100 and vae["nll_per_sentence"] <= NLL_TARGET, "" if k >= 100 else "K < 100"),
        goal("VAE KL per sentence", vae["kl_per_sentence"], f">= {KL_TARGET}",
             vae["kl_per_sentence"] >= KL_TARGET),
        goal("VAE active units", vae["active_units"], f">= {half} of {vae['latent_dim']}",
             vae["active_units"] >= half),
        goal("VAE NLL minus LM NLL per sentence", vae["nll_per_sentence"] - lm["nll_per_sentence"], "<= 0",
             vae["nll_per_sentence"] <= lm["nll_per_sentence"],
             "VAE: importance-weighted upper bound; LM: exact"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True,
                        help="folder with ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    add_protocol_arguments(parser, "ptb", budget=80.0, max_epochs=8)
    args = parser.parse_args(argv)
    files = {split: str(Path(args.data) / f"ptb.{split}.txt") for split in ("train", "valid", "test")}
    for path in files.values():
        if not Path(path).is_file():
            fail(f"{path}: no such file (--data must hold ptb.train.txt, ptb.valid.txt, ptb.test.txt)")
    payload = run_protocol(args, "ptb", SPECS, files)
    payload["goals"] = ptb_goals(payload["models"])
    markdown = markdown_report("Penn Treebank: sentence VAE vs. GRU language model", payload)
    json_path, md_path = write_results("ptb", payload, markdown, args.results_dir)
    echo("\n" + markdown)
    echo(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Yelp review sentences: the VAE of configs/yelp.yaml, evaluated, plus a sentiment probe.

    python benchmarks/yelp.py --data ../shared/data/yelp_sentences/resplit
    python benchmarks/yelp.py --data ../shared/data/yelp_sentences/resplit --with-lm --reuse

The protocol of benchmarks/ptb.py (train in `sentvae train` subprocesses, evaluate the best
checkpoint on the test split; `--with-lm` also trains the language-model baseline at the same
time), plus a linear probe: logistic regression on the posterior means, trained on the means of
the first `--probe-train` sentences of train.tsv (the file is shuffled) and tested on test.tsv,
predicting the sentiment label (0 negative, 1 positive). Goal: test accuracy >= 80%.
Writes benchmarks/results/yelp.json and yelp.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (add_protocol_arguments, echo, fail, goal, markdown_report,  # noqa: E402
                    run_protocol, vae_and_lm, write_results)

PROBE_TARGET = 0.80


def linear_probe(train_x: torch.Tensor, train_y: list, test_x: torch.Tensor, test_y: list,
                 l2: float = 1e-4, iterations: int = 500) -> dict:
    """Multinomial logistic regression (full batch, L-BFGS) on standardised features.

    train_x (N, D), test_x (M, D); labels of any hashable type. The weights start at zero and the
    problem is convex, so the result is deterministic. Returns train/test accuracy and the
    accuracy of always predicting the most frequent training label (the floor to beat).
    """
    classes = sorted(set(train_y), key=str)
    index = {label: i for i, label in enumerate(classes)}
    unseen = {label for label in test_y if label not in index}
    if unseen:
        raise ValueError(f"test labels never seen in training: {sorted(unseen, key=str)[:5]}")
    y_train = torch.tensor([index[label] for label in train_y])
    y_test = torch.tensor([index[label] for label in test_y])
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    x_train = ((train_x - mean) / std).double()  # (N, D)
    x_test = ((test_x - mean) / std).double()  # (M, D)
    weight = torch.zeros(len(classes), x_train.size(1), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(len(classes), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=iterations,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-9)

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x_train @ weight.T + bias, y_train) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        train_accuracy = float(((x_train @ weight.T + bias).argmax(1) == y_train).double().mean())
        test_accuracy = float(((x_test @ weight.T + bias).argmax(1) == y_test).double().mean())
    majority = Counter(train_y).most_common(1)[0][0]
    return {"train_accuracy": train_accuracy, "test_accuracy": test_accuracy,
            "majority_baseline": sum(label == majority for label in test_y) / len(test_y),
            "train_sentences": len(train_y), "test_sentences": len(test_y),
            "classes": [str(c) for c in classes], "l2": l2}


def sentiment_probe(run_dir: Path, train_tsv: str, test_tsv: str, probe_train: int, threads: int) -> dict:
    """Posterior means of train/test sentences -> `linear_probe` on the `label` column."""
    from sentvae.evaluate import column_values, load_evaluation_split, posterior_parameters
    from sentvae.pipeline import VAEPipeline

    torch.set_num_threads(threads)
    started = time.perf_counter()
    vae = VAEPipeline.from_pretrained(run_dir)
    train = load_evaluation_split(vae, train_tsv, text_column="sentence", max_sentences=probe_train)
    test = load_evaluation_split(vae, test_tsv, text_column="sentence")
    train_mu, _ = posterior_parameters(vae.model, train)
    test_mu, _ = posterior_parameters(vae.model, test)
    result = linear_probe(train_mu, column_values(train, "label"), test_mu, column_values(test, "label"))
    result["seconds"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True,
                        help="folder with train/valid/test .txt and train/test .tsv (label, sentence)")
    parser.add_argument("--with-lm", action="store_true",
                        help="also train and evaluate the language-model baseline (same decoder, same budget)")
    parser.add_argument("--probe-train", type=int, default=20000, metavar="N",
                        help="train the probe on the first N sentences of train.tsv (default 20000)")
    add_protocol_arguments(parser, "yelp", budget=80.0, max_epochs=None)
    args = parser.parse_args(argv)
    data = Path(args.data)
    files = {split: str(data / f"{split}.txt") for split in ("train", "valid", "test")}
    probe_files = {split: str(data / f"{split}.tsv") for split in ("train", "test")}
    for path in [*files.values(), *probe_files.values()]:
        if not Path(path).is_file():
            fail(f"{path}: no such file (--data must hold train/valid/test.txt and train/test.tsv)")
    if args.probe_train < 2:
        fail(f"--probe-train must be >= 2, got {args.probe_train}")
    specs = vae_and_lm(args) if args.with_lm else vae_and_lm(args)[:1]
    payload = run_protocol(args, "yelp", specs, files)
    echo("vae: sentiment probe on posterior means ...")
    probe = sentiment_probe(Path(args.work_dir) / "vae", probe_files["train"], probe_files["test"],
                            args.probe_train, args.eval_threads)
    payload["probe"] = probe
    vae = payload["models"]["vae"]["evaluation"]["results"]
    payload["goals"] = [goal("sentiment probe test accuracy (logistic regression on posterior means)",
                             probe["test_accuracy"], f">= {PROBE_TARGET:.2f}",
                             probe["test_accuracy"] >= PROBE_TARGET,
                             f"majority class: {probe['majority_baseline']:.3f}")]
    if args.with_lm:
        lm = payload["models"]["lm"]["evaluation"]["results"]
        payload["goals"].append(goal("VAE NLL minus LM NLL per sentence",
                                     vae["nll_per_sentence"] - lm["nll_per_sentence"], "<= 0",
                                     vae["nll_per_sentence"] <= lm["nll_per_sentence"],
                                     "VAE: importance-weighted upper bound; LM: exact"))
    probe_section = (
        "### Sentiment probe\n\n"
        f"Logistic regression (L-BFGS, L2 {probe['l2']:g}, standardised features) on the VAE's posterior "
        f"means: trained on {probe['train_sentences']:,} sentences of `train.tsv`, tested on "
        f"{probe['test_sentences']:,} of `test.tsv`. Test accuracy **{100 * probe['test_accuracy']:.1f}%** "
        f"(train {100 * probe['train_accuracy']:.1f}%; always the majority class: "
        f"{100 * probe['majority_baseline']:.1f}%).")
    title = "Yelp sentences: sentence VAE" + (" vs. GRU language model" if args.with_lm else "")
    markdown = markdown_report(title, payload, extra_sections=[probe_section])
    json_path, md_path = write_results("yelp", payload, markdown, args.results_dir)
    echo("\n" + markdown)
    echo(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

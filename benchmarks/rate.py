"""The rate trade-off on the built-in corpus: how much the code carries against how well samples read.

    python benchmarks/rate.py                       # the sweep below, two trainings at a time
    python benchmarks/rate.py --quick               # a smoke run (tests use it)

Trains `configs/demo_beta1.yaml` (the earlier demo) at several points of the rate-distortion curve with `sentvae train`
(one thread each, `--parallel` at a time): beta = 1 (the KL-regularised VAE, as shipped before),
target rates C = 5, 10, 20, 40 nats per sentence (rec + |KL - C|, train.kl_target) and an
unregularised autoencoder (beta = 0). After training each run fits its mixture prior
(train.fit_prior). Each best checkpoint is then scored on the built-in test split with
`sentvae.evaluate.evaluate` (grammar on): KL, IW-NLL under N(0, I) and under the fitted prior,
reconstruction exact match and BLEU, and, for both priors, the share of 1,000 greedy prior samples
the corpus's exact recogniser accepts; interpolations between 100 pairs of test sentences (ends
reconstructing them, points grammatical). Writes benchmarks/results/rate.json, rate.md and
rate.png (reconstruction exact match against sample grammaticality, one curve per prior).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, echo, fail, hardware, read_run_summary, relative, write_results  # noqa: E402

CAPACITY = ["model.latent_dim=64", "model.encoder_hidden_dim=256", "train.lr=0.006",
            "train.builtin_train_size=160000", "train.max_epochs=2"]
POINTS = {  # name -> (title, config overrides)
    "beta1": ("beta = 1 (KL-regularised)", []),
    "target5": ("target rate 5 nats", ["train.kl_target=5"]),
    "target10": ("target rate 10 nats", ["train.kl_target=10"]),
    "target20": ("target rate 20 nats", ["train.kl_target=20"]),
    "target40": ("target rate 40 nats", ["train.kl_target=40"]),
    "autoencoder": ("autoencoder (beta = 0)", ["train.kl_schedule=constant", "train.beta=0",
                                              "train.free_bits=0"]),
    # More capacity and data for a code that carries the sentence: z 64, encoder 256, lr 0.006,
    # 160k fresh sentences for 2 epochs (5,000 steps) instead of 20k for 8, target 40 nats.
    "capacity40": ("target 40, z 64, 5k steps", CAPACITY + ["train.kl_target=40"]),
    "capacity40_ae_denoise": ("+ autoencoder pretraining, encoder word drop 0.1",
                              CAPACITY + ["train.kl_target=40", "train.autoencoder_steps=1000",
                                          "model.encoder_word_drop=0.1"]),
    # A higher target rate: enough nats for the whole sentence (the corpus's sentences carry about
    # 33 nats under the model), with z 64 and z 128.
    "capacity80": ("target 80, z 64, 5k steps", CAPACITY + ["train.kl_target=80"]),
    "capacity80_z128": ("target 80, z 128, 5k steps", CAPACITY + ["train.kl_target=80", "model.latent_dim=128"]),
    # Without word dropout (it learned faster in a 2,100-step probe), and with the codes' MMD to
    # N(0, I) in the loss (train.mmd_weight: InfoVAE / WAE), which aims at samples from N(0, I).
    "capacity80_nowd": ("target 80, z 64, no word dropout", CAPACITY + ["train.kl_target=80", "model.word_dropout=0"]),
    "capacity40_nowd": ("target 40, z 64, no word dropout", CAPACITY + ["train.kl_target=40", "model.word_dropout=0"]),
    # Reconstruction fails on long sentences (12+ words: 4% exact at 5k steps, at C = 40 and 80
    # alike): the same model trained 4x longer (8 epochs of 160k sentences, 20k steps).
    "capacity80_nowd_long": ("target 80, z 64, no word dropout, 20k steps",
                             CAPACITY + ["train.kl_target=80", "model.word_dropout=0", "train.max_epochs=8"]),
    # MMD weight 1,000: at 100 the batch MMD^2 was already ~0.005 (0.5 nats of loss), too little to act.
    "capacity40_nowd_mmd": ("target 40, z 64, no word dropout, MMD 1000",
                            CAPACITY + ["train.kl_target=40", "model.word_dropout=0", "train.mmd_weight=1000"]),
    # At weight 1,000 samples and interpolations meet their goals but reconstruction collapses
    # (9.5% exact): a weaker MMD, and the same weight at target 80.
    "capacity40_nowd_mmd300": ("target 40, z 64, no word dropout, MMD 300",
                               CAPACITY + ["train.kl_target=40", "model.word_dropout=0", "train.mmd_weight=300"]),
    "capacity80_nowd_mmd": ("target 80, z 64, no word dropout, MMD 1000",
                            CAPACITY + ["train.kl_target=80", "model.word_dropout=0", "train.mmd_weight=1000"]),
    # Is the rate what limits long sentences, or the networks? An unregularised autoencoder with the
    # same capacity (no KL term at all), and the target-80 model with 512-unit GRUs.
    "capacity_ae_nowd": ("autoencoder (beta = 0), z 64, no word dropout",
                         CAPACITY + ["train.kl_schedule=constant", "train.beta=0", "train.free_bits=0",
                                     "model.word_dropout=0"]),
    "capacity80_nowd_h512": ("target 80, z 64, no word dropout, GRUs 512",
                             CAPACITY + ["train.kl_target=80", "model.word_dropout=0",
                                         "model.encoder_hidden_dim=512", "model.decoder_hidden_dim=512"]),
}
QUICK = ["train.builtin_train_size=600", "train.builtin_valid_size=100", "train.builtin_test_size=100",
         "train.max_steps=30", "train.eval_every=15", "train.warmup_steps=5", "train.kl_warmup_steps=10"]
GOALS = {"reconstruction_exact_match": 0.90, "fitted_prior_grammatical": 0.95,
         "interpolation_grammatical_points": 0.95}


def train_points(args, names: list[str]) -> dict[str, str]:
    """`sentvae train` for every point, `args.parallel` at a time; returns the command lines."""
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    commands, waiting, running = {}, list(names), {}
    while waiting or running:
        while waiting and len(running) < args.parallel:
            name = waiting.pop(0)
            run_dir = work / name
            overrides = POINTS[name][1] + (QUICK if args.quick else []) + args.set
            command = ["train", "--config", args.config, "--out", str(run_dir), "--threads", "1",
                       "--quiet", *[part for o in overrides for part in ("--set", o)]]
            commands[name] = shlex.join(["sentvae", *command])
            summary = read_run_summary(run_dir) if run_dir.exists() else None
            if summary and args.reuse and summary["stopped"] != "interrupted":
                echo(f"{name}: reusing {run_dir}")
                continue
            if run_dir.exists():
                fail(f"{run_dir} exists; pass --reuse (finished runs) or choose another --work-dir")
            echo(f"{name}: training -> {work / (name + '.log')}")
            log = (work / f"{name}.log").open("w", encoding="utf-8")
            running[name] = (subprocess.Popen([sys.executable, "-m", "sentvae", *command], stdout=log,
                                              stderr=subprocess.STDOUT), log)
        for name, (process, log) in list(running.items()):
            if process.poll() is not None:
                log.close()
                del running[name]
                if process.returncode != 0:
                    fail(f"training {name} failed (exit status {process.returncode}); see {log.name}")
                echo(f"{name}: trained")
        time.sleep(1)
    return commands


def score_point(args, name: str) -> dict:
    """Evaluate one run's best checkpoint on the built-in test split (cached in evaluation.json)."""
    import torch

    from sentvae.checkpoint import read_train_config, resolve_checkpoint
    from sentvae.data import builtin_datasets
    from sentvae.evaluate import evaluate, load_evaluation_split
    from sentvae.pipeline import VAEPipeline

    run_dir = Path(args.work_dir) / name
    cache = run_dir / "evaluation.json"
    if cache.is_file() and args.reuse:
        return json.loads(cache.read_text(encoding="utf-8"))
    torch.set_num_threads(args.eval_threads)
    train_cfg = read_train_config(resolve_checkpoint(run_dir))
    test_file = run_dir / "test.txt"  # the run's own built-in test split
    test_file.write_text("\n".join(builtin_datasets(train_cfg)["test"]["text"]) + "\n", encoding="utf-8")
    vae = VAEPipeline.from_pretrained(run_dir)
    split = load_evaluation_split(vae, str(test_file))
    started = time.perf_counter()
    results = evaluate(vae, split, iw_samples=args.iw_samples, seed=args.seed,
                       prior_samples=args.prior_samples, grammar=True,
                       interpolation_pairs=args.interpolation_pairs)
    results["evaluation_seconds"] = time.perf_counter() - started
    results["training"] = read_run_summary(run_dir)
    cache.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def point_row(name: str, results: dict) -> dict:
    """The figures of one point that the table and the plot show."""
    generation = results["generation"]
    priors = generation["priors"]
    interpolation = generation["interpolation"]
    return {"point": name, "title": POINTS[name][0], "kl": results["kl_per_sentence"],
            "rec": results["rec_per_sentence"], "iw_nll": results["nll_per_sentence"],
            "iw_nll_fitted_prior": results.get("nll_per_sentence_fitted_prior"),
            "fitted_components": results.get("fitted_prior_components"),
            "active_units": results["active_units"],
            "reconstruction_exact_match": results["reconstruction_exact_match"],
            "reconstruction_bleu": results["reconstruction_bleu"],
            "standard_prior_grammatical": priors["standard"]["grammatical"],
            "fitted_prior_grammatical": priors.get("fitted", {}).get("grammatical"),
            "standard_prior_distinct_2": priors["standard"]["distinct_2"],
            "fitted_prior_distinct_2": priors.get("fitted", {}).get("distinct_2"),
            "interpolation_endpoint_exact_match": interpolation["endpoint_exact_match"],
            "interpolation_grammatical_points": interpolation["grammatical_points"],
            "steps": results["training"]["steps"], "final_beta": results["training"].get("final_beta"),
            "training_minutes": results["training"]["wall_seconds"] / 60,
            # absent from evaluations cached before it existed
            "exact_match_by_length": results.get("reconstruction_exact_match_by_length")}


def goals_met(row: dict) -> dict[str, bool]:
    return {key: row[key] is not None and row[key] >= target for key, target in GOALS.items()}


def markdown(payload: dict) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    num = lambda v, d=2: "n/a" if v is None else f"{v:,.{d}f}"  # noqa: E731
    hw = payload["hardware"]
    lines = ["| point | KL | IW-NLL N(0, I) / fitted | exact recon. | BLEU | grammatical samples N(0, I) / fitted "
             "| distinct-2 N(0, I) / fitted | interp. ends / grammatical points | goals met | training min |",
             "|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|"]
    for row in payload["points"]:
        met = goals_met(row)
        lines.append(f"| {row['title']} | {num(row['kl'])} | {num(row['iw_nll'])} / {num(row['iw_nll_fitted_prior'])} | "
                     f"{pct(row['reconstruction_exact_match'])} | {num(row['reconstruction_bleu'], 1)} | "
                     f"{pct(row['standard_prior_grammatical'])} / {pct(row['fitted_prior_grammatical'])} | "
                     f"{num(row['standard_prior_distinct_2'], 3)} / {num(row['fitted_prior_distinct_2'], 3)} | "
                     f"{pct(row['interpolation_endpoint_exact_match'])} / {pct(row['interpolation_grammatical_points'])} | "
                     f"{sum(met.values())}/{len(met)} | {num(row.get('training_minutes'), 1)} |")
    lines += ["", f"Built-in corpus test split ({payload['test_sentences']:,} sentences), nats per sentence; "
              f"IW-NLL with K = {payload['iw_samples']}; {payload['prior_samples']:,} greedy prior samples per "
              f"prior; {payload['interpolation_pairs']} interpolations of 8 points. Goals: exact reconstruction "
              ">= 90%, grammatical fitted-prior samples >= 95%, grammatical interpolation points >= 95%. "
              f"{hw['cpu']} ({hw['instruction_set']}), {payload['parallel']} trainings at a time, one thread each; "
              f"training minutes per point as its run recorded them; this command {payload['minutes']:.1f} "
              f"minutes{' (with --reuse: finished trainings and evaluations kept)' if payload.get('reused') else ''}; "
              f"{payload['date']}.", "",
              f"Command: `{payload['command']}`", ""]
    by_length = [row for row in payload["points"] if row.get("exact_match_by_length")]
    if by_length:
        buckets = list(by_length[0]["exact_match_by_length"])
        lines += ["Exact reconstruction by sentence length (words), where the evaluation recorded it:", "",
                  "| point | " + " | ".join(f"{b} words" for b in buckets) + " |",
                  "|---|" + "---:|" * len(buckets)]
        for row in by_length:
            cells = [row["exact_match_by_length"].get(b) for b in buckets]
            lines.append(f"| {row['title']} | " + " | ".join(
                "n/a" if c is None else f"{100 * c['exact_match']:.0f}% of {c['sentences']}" for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both coordinates (higher is better), sorted by x."""
    front = [p for p in points
             if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)]
    return sorted(set(front))


def plot(payload: dict, out_png: Path) -> None:
    """Reconstruction exact match (x) against grammatical prior samples (y): every point under
    both priors, and each prior's frontier (the points no other point beats on both)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5.5))
    for key, label, colour in (("standard_prior_grammatical", "N(0, I)", "tab:blue"),
                               ("fitted_prior_grammatical", "fitted mixture", "tab:orange")):
        points = [(100 * r["reconstruction_exact_match"], 100 * r[key]) for r in payload["points"]
                  if r[key] is not None]
        axis.scatter([p[0] for p in points], [p[1] for p in points], color=colour, alpha=0.6,
                     label=f"samples from {label}")
        front = pareto_front(points)
        axis.plot([p[0] for p in front], [p[1] for p in front], color=colour, label=f"{label}: frontier")
    for r in payload["points"]:  # each point named once, at its fitted-prior position
        y = r["fitted_prior_grammatical"] if r["fitted_prior_grammatical"] is not None else r["standard_prior_grammatical"]
        axis.annotate(r["point"], (100 * r["reconstruction_exact_match"], 100 * y), fontsize=6,
                      xytext=(3, 3), textcoords="offset points")
    axis.axvline(100 * GOALS["reconstruction_exact_match"], color="grey", linestyle=":", linewidth=1)
    axis.axhline(100 * GOALS["fitted_prior_grammatical"], color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("exact reconstruction of test sentences (%)")
    axis.set_ylabel("grammatical greedy prior samples (%)")
    axis.set_title("Rate trade-off on the built-in corpus (dotted: the goals)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(out_png, dpi=120)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="demo_beta1",
                        help="the config every point starts from (default demo_beta1: the earlier, beta = 1 demo)")
    parser.add_argument("--points", default=",".join(POINTS), help=f"which points (default {','.join(POINTS)})")
    parser.add_argument("--work-dir", default="runs/bench/rate", help="run directories and logs")
    parser.add_argument("--results-dir", default=relative(RESULTS), help="where rate.json/.md/.png go")
    parser.add_argument("--parallel", type=int, default=2, help="trainings at a time (default 2)")
    parser.add_argument("--eval-threads", type=int, default=2, help="torch threads for evaluation")
    parser.add_argument("--iw-samples", type=int, default=50, help="importance samples (default 50)")
    parser.add_argument("--prior-samples", type=int, default=1000, help="prior samples per prior")
    parser.add_argument("--interpolation-pairs", type=int, default=100, help="interpolations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override for every point")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs and evaluations")
    parser.add_argument("--quick", action="store_true", help="tiny runs, for a smoke test")
    args = parser.parse_args(argv)
    names = [n for n in args.points.split(",") if n]
    unknown = [n for n in names if n not in POINTS]
    if unknown:
        fail(f"unknown points {unknown} (known: {', '.join(POINTS)})")
    if args.quick:
        args.prior_samples, args.interpolation_pairs, args.iw_samples = 50, 5, 5
    started = time.perf_counter()
    commands = train_points(args, names)
    rows, evaluations = [], {}
    for name in names:
        echo(f"{name}: evaluating")
        evaluations[name] = score_point(args, name)
        rows.append(point_row(name, evaluations[name]))
    payload = {"benchmark": "rate", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "command": "python " + shlex.join([relative(sys.argv[0]), *(sys.argv[1:] if argv is None else argv)]),
               "training_commands": commands, "hardware": hardware(), "parallel": args.parallel,
               "iw_samples": args.iw_samples, "prior_samples": args.prior_samples,
               "interpolation_pairs": args.interpolation_pairs,
               "test_sentences": evaluations[names[0]]["sentences"], "points": rows,
               "goals": {row["point"]: goals_met(row) for row in rows},
               "minutes": (time.perf_counter() - started) / 60, "reused": args.reuse}
    name = "rate_quick" if args.quick else "rate"
    json_path, md_path = write_results(name, payload, markdown(payload), args.results_dir)
    plot(payload, Path(args.results_dir) / f"{name}.png")
    print(markdown(payload))
    echo(f"wrote {json_path}, {md_path} and {name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

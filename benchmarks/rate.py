"""The rate trade-off: how much the code carries against how well samples read.

    python benchmarks/rate.py                       # the built-in corpus sweep, two trainings at a time
    python benchmarks/rate.py --points capacity80_nowd_h512 --update   # one point; other rows kept
    python benchmarks/rate.py --data ../shared/data/yelp_sentences/resplit   # Yelp, three at a time
    python benchmarks/rate.py --quick               # a smoke run (tests use it, with --data too)

Built-in corpus: trains `configs/demo_beta1.yaml` (the earlier demo) at several points of the
rate-distortion curve with `sentvae train` (one thread each, `--parallel` at a time): beta = 1
(the KL-regularised VAE, as shipped before), target rates C = 5, 10, 20, 40 nats per sentence
(rec + |KL - C|, train.kl_target), an unregularised autoencoder (beta = 0), and the capacity
points below. After training each run fits its mixture prior (train.fit_prior). Each best
checkpoint is then scored on the built-in test split with `sentvae.evaluate.evaluate` (grammar
on): KL, IW-NLL under N(0, I) and under the fitted prior, reconstruction exact match and BLEU,
and, for both priors, the share of 1,000 greedy prior samples the corpus's exact recogniser
accepts; interpolations between 100 pairs of test sentences (ends reconstructing them, points
grammatical). `--beam W` decodes every code (reconstructions, samples, interpolation points) by
beam search of width W instead of greedily: a row "<point>+beamW" beside the greedy one; with
`--rerank` the beams of reconstructions and interpolation ends are re-ordered by
log p(x | z) + log q(z | x) (row "<point>+beamW+re-ranked"; prior samples and the points inside a
path stay plain beam search). `--refine N` takes the prior samples N times through the autoencoder
(`sentvae sample --refine`; rows "...+refinedN"). `--fusion-weight W` decodes every code with the
point `language_model` (the decoder without a latent, trained on the same sentences; trained
first when missing) fused into each step with weight W (`sentvae sample --fusion-lm`; rows
"...+fusedW"). Writes
benchmarks/results/rate.json, rate.md and rate.png (reconstruction exact match against sample
grammaticality, one curve per prior).

Yelp (`--data DIR` with train.txt, valid.txt and test.txt; config `yelp`): the points of
`YELP_POINTS` and, as the judge of fluency, a language model (`latent_dim 0`, the same data and
budget), each a 55-minute `sentvae train`, all three at once. Every VAE point is scored on
test.txt with the LM: the forward perplexity of 1,000 greedy samples from each prior under the LM
(ARAE's measure), next to the LM's perplexity on the real test sentences. Writes rate_yelp.json,
rate_yelp.md and rate_yelp.png (reconstruction BLEU against samples' forward perplexity).

`--update` reruns only `--points` and keeps the other rows of the results file as they were
measured (each row carries its date).
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
TARGET80_NOWD = CAPACITY + ["train.kl_target=80", "model.word_dropout=0"]  # the target-80 reference point
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
    "capacity80_nowd": ("target 80, z 64, no word dropout", TARGET80_NOWD),
    "capacity40_nowd": ("target 40, z 64, no word dropout", CAPACITY + ["train.kl_target=40", "model.word_dropout=0"]),
    # Reconstruction fails on long sentences (12+ words: 4% exact at 5k steps, at C = 40 and 80
    # alike): the same model trained 4x longer (8 epochs of 160k sentences, 20k steps).
    "capacity80_nowd_long": ("target 80, z 64, no word dropout, 20k steps",
                             [*TARGET80_NOWD, "train.max_epochs=8"]),
    # MMD weight 1,000: at 100 the batch MMD^2 was already ~0.005 (0.5 nats of loss), too little to act.
    "capacity40_nowd_mmd": ("target 40, z 64, no word dropout, MMD 1000",
                            CAPACITY + ["train.kl_target=40", "model.word_dropout=0", "train.mmd_weight=1000"]),
    # At weight 1,000 samples and interpolations meet their goals but reconstruction collapses
    # (9.5% exact): a weaker MMD, and the same weight at target 80.
    "capacity40_nowd_mmd300": ("target 40, z 64, no word dropout, MMD 300",
                               CAPACITY + ["train.kl_target=40", "model.word_dropout=0", "train.mmd_weight=300"]),
    "capacity80_nowd_mmd": ("target 80, z 64, no word dropout, MMD 1000",
                            [*TARGET80_NOWD, "train.mmd_weight=1000"]),
    # Is the rate what limits long sentences, or the networks? An unregularised autoencoder with the
    # same capacity (no KL term at all), and the target-80 model with 512-unit GRUs.
    "capacity_ae_nowd": ("autoencoder (beta = 0), z 64, no word dropout",
                         CAPACITY + ["train.kl_schedule=constant", "train.beta=0", "train.free_bits=0",
                                     "model.word_dropout=0"]),
    "capacity80_nowd_h512": ("target 80, z 64, no word dropout, GRUs 512",
                             CAPACITY + ["train.kl_target=80", "model.word_dropout=0",
                                         "model.encoder_hidden_dim=512", "model.decoder_hidden_dim=512"]),
    # Reconstructions get the sentence's shape right and its content words wrong ("the pink student
    # did not like your puppy" -> "the pink puppy did not like your trains"): a bag-of-words loss
    # on z (Zhao et al. 2017) asks the code to name the words.
    "capacity80_nowd_bow": ("target 80, z 64, no word dropout, bag-of-words loss",
                            [*TARGET80_NOWD, "model.bow_weight=1"]),
    # Under-fitting, not over-fitting (train-set reconstruction 69% against 63% on test): more
    # updates for the same sentences (batch 32, 10,000 steps), and a higher learning rate.
    "capacity80_nowd_b32": ("target 80, z 64, no word dropout, batch 32",
                            [*TARGET80_NOWD, "train.batch_size=32"]),
    # Long sentences fail most (16+ words: 0-1% exact at every point, even the autoencoder): the
    # code is read from the GRUs' final states only; with the mean and maximum of the encoder's
    # outputs too, every word has a short path to the code.
    "capacity80_nowd_pool": ("target 80, z 64, no word dropout, pooled encoder summary",
                             [*TARGET80_NOWD, "model.encoder_pooling=true"]),
    "capacity80_nowd_pool_long": ("target 80, z 64, no word dropout, pooled encoder summary, 20k steps",
                                  [*TARGET80_NOWD, "model.encoder_pooling=true",
                                              "train.max_epochs=8"]),
    "capacity80_nowd_lr012": ("target 80, z 64, no word dropout, lr 0.012",
                              [*TARGET80_NOWD, "train.lr=0.012"]),
    # Steps are what paid (5k -> 20k: 63.3% -> 74.0% exact); the rate is not what limits long
    # sentences (a target per token gave 16+-word sentences 140 nats and them no better
    # reconstructions). 30k steps, with z 64 and z 128.
    "capacity80_nowd_pool_30k": ("target 80, z 64, no word dropout, pooled encoder summary, 30k steps",
                                 [*TARGET80_NOWD, "model.encoder_pooling=true", "train.max_epochs=12"]),
    "capacity80_nowd_pool_30k_z128": ("target 80, z 128, no word dropout, pooled encoder summary, 30k steps",
                                      [*TARGET80_NOWD, "model.encoder_pooling=true", "train.max_epochs=12",
                                       "model.latent_dim=128"]),
    # Samples that fail the grammar are codes between the codes of sentences, decoded faithfully
    # into blends; a language model of the same sentences, fused into each decoding step
    # (--fusion-weight), knows which words may come next. Not a point of the curve: not evaluated.
    "language_model": ("language model (fused into decoding with --fusion-weight)",
                       CAPACITY + ["model.use_latent=false", "model.word_dropout=0"]),
}
BUILTIN_LM = "language_model"
QUICK_STEPS = ["train.max_steps=30", "train.eval_every=15", "train.warmup_steps=5", "train.kl_warmup_steps=10"]
QUICK = ["train.builtin_train_size=600", "train.builtin_valid_size=100", "train.builtin_test_size=100",
         *QUICK_STEPS]
GOALS = {"reconstruction_exact_match": 0.90, "fitted_prior_grammatical": 0.95,
         "interpolation_grammatical_points": 0.95}

# Yelp: z 64 without word dropout (what carried most on the built-in corpus) at target rates of 40,
# 70 and 100 nats, against Yelp's sentences of about 41 nats (configs/yelp.yaml's VAE,
# benchmarks/results/yelp.json).
YELP_BUDGET = ["train.max_minutes=55", "train.eval_every=500"]
YELP_LM = "yelp_lm"  # the judge: the same decoder as a language model, the same budget


def yelp_target(rate: int, pooled: bool = False) -> tuple[str, list[str]]:
    """A Yelp point at a target rate (title, overrides); `pooled`: the encoder summary with the
    mean and maximum of its outputs (model.encoder_pooling), which helped the 12-15-word sentences
    of the built-in corpus most (rate.md)."""
    title = f"target {rate}, z 64, no word dropout" + (", pooled encoder summary" if pooled else "")
    overrides = [f"train.kl_target={rate}", "model.latent_dim=64", "model.word_dropout=0"]
    return title, YELP_BUDGET + overrides + (["model.encoder_pooling=true"] if pooled else [])


YELP_POINTS = {
    YELP_LM: ("language model (the judge)", YELP_BUDGET + ["model.use_latent=false", "model.word_dropout=0"]),
    "yelp_target40": yelp_target(40),
    "yelp_target100": yelp_target(100),
    "yelp_target100_pool": yelp_target(100, pooled=True),
    # Between the point whose samples were as fluent as real text (40) and the one that
    # reconstructed best (100), for decoding by re-ranked beam search (--beam --rerank).
    "yelp_target70_pool": yelp_target(70, pooled=True),
}
YELP_QUICK = [*QUICK_STEPS, "train.max_minutes=0", "train.min_frequency=1"]
YELP_GOALS = {"reconstruction_bleu": 50.0}  # and fitted-prior samples' forward PPL <= 1.3x the LM's on real text
YELP_FLUENCY_RATIO = 1.3


def corpus_points(args) -> dict:
    """The points of the corpus this run is on: name -> (title, overrides)."""
    return YELP_POINTS if args.data else POINTS


def train_points(args, names: list[str]) -> dict[str, str]:
    """`sentvae train` for every point, `args.parallel` at a time; returns the command lines."""
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    points, quick = corpus_points(args), (YELP_QUICK if args.data else QUICK)
    data = (["--train", str(Path(args.data) / "train.txt"), "--valid", str(Path(args.data) / "valid.txt")]
            if args.data else [])
    commands, waiting, running = {}, list(names), {}
    while waiting or running:
        while waiting and len(running) < args.parallel:
            name = waiting.pop(0)
            run_dir = work / name
            overrides = points[name][1] + (quick if args.quick else []) + args.set
            command = ["train", "--config", args.config, *data, "--out", str(run_dir), "--threads", "1",
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
    """Evaluate one run's best checkpoint on the built-in test split (or Yelp's), cached in
    evaluation.json (evaluation_beamW.json with --beam W, evaluation_beamW_rerank.json with --rerank;
    "_refineN" before ".json" with --refine N)."""
    import torch

    from sentvae.checkpoint import read_train_config, resolve_checkpoint
    from sentvae.data import builtin_datasets
    from sentvae.evaluate import evaluate, load_evaluation_split
    from sentvae.pipeline import VAEPipeline

    run_dir = Path(args.work_dir) / name
    beam = args.beam
    cache = run_dir / ("evaluation" + (f"_beam{beam}" if beam > 1 else "") + ("_rerank" if args.rerank else "")
                       + (f"_refine{args.refine}" if args.refine else "")
                       + (f"_fused{args.fusion_weight:g}" if args.fusion_weight else "") + ".json")
    if cache.is_file() and args.reuse:
        return json.loads(cache.read_text(encoding="utf-8"))
    torch.set_num_threads(args.eval_threads)
    if args.data:  # Yelp: its test file, fluency judged by the language model trained beside it
        test_file, lm = Path(args.data) / "test.txt", VAEPipeline.from_pretrained(Path(args.work_dir) / YELP_LM)
    else:
        train_cfg = read_train_config(resolve_checkpoint(run_dir))
        test_file, lm = run_dir / "test.txt", None  # the run's own built-in test split
        test_file.write_text("\n".join(builtin_datasets(train_cfg)["test"]["text"]) + "\n", encoding="utf-8")
    vae = VAEPipeline.from_pretrained(run_dir)
    if args.fusion_weight:
        vae.fuse_with(VAEPipeline.from_pretrained(Path(args.work_dir) / BUILTIN_LM), args.fusion_weight)
    split = load_evaluation_split(vae, str(test_file))
    started = time.perf_counter()
    results = evaluate(vae, split, iw_samples=args.iw_samples, seed=args.seed,
                       prior_samples=args.prior_samples, grammar=not args.data, lm=lm,
                       interpolation_pairs=args.interpolation_pairs, beam=beam, rerank=args.rerank,
                       refine=args.refine)
    results["evaluation_seconds"] = time.perf_counter() - started
    results["training"] = read_run_summary(run_dir)
    results["fusion_lm_weight"] = args.fusion_weight
    cache.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def point_row(name: str, results: dict, title: str, date: str, machine: str) -> dict:
    """The figures of one point that the tables and the plots show, with when and where measured.
    A point evaluated with beam-search decoding (--beam) is its own row: "<name>+beamW" (re-ranked:
    "<name>+beamW+re-ranked"); one with refined prior samples (--refine N) adds "+refinedN", one
    decoded with the language model fused in (--fusion-weight W) "+fusedW"."""
    generation = results["generation"]
    decoding = results.get("reconstruction_decoding", "greedy")
    if decoding != "greedy":
        name = f"{name}+{decoding.replace(', ', '+').replace(' ', '')}"
        title = f"{title}, {decoding} decoding"
    refine = results.get("prior_refine", 0)  # absent from evaluations cached before it existed
    if refine:
        name, title = f"{name}+refined{refine}", f"{title}, samples refined {refine}x"
    fusion = results.get("fusion_lm_weight", 0)
    if fusion:
        name, title = f"{name}+fused{fusion:g}", f"{title}, language model fused (weight {fusion:g})"
    priors = generation["priors"]
    interpolation = generation["interpolation"]
    return {"point": name, "title": title, "measured": date, "machine": machine, "decoding": decoding,
            "kl": results["kl_per_sentence"],
            "rec": results["rec_per_sentence"], "iw_nll": results["nll_per_sentence"],
            "iw_nll_fitted_prior": results.get("nll_per_sentence_fitted_prior"),
            "fitted_components": results.get("fitted_prior_components"),
            "active_units": results["active_units"],
            "reconstruction_exact_match": results["reconstruction_exact_match"],
            "reconstruction_bleu": results["reconstruction_bleu"],
            "standard_prior_grammatical": priors["standard"].get("grammatical"),
            "fitted_prior_grammatical": priors.get("fitted", {}).get("grammatical"),
            "standard_prior_distinct_2": priors["standard"]["distinct_2"],
            "fitted_prior_distinct_2": priors.get("fitted", {}).get("distinct_2"),
            "standard_prior_forward_ppl": priors["standard"].get("forward_ppl"),
            "fitted_prior_forward_ppl": priors.get("fitted", {}).get("forward_ppl"),
            "lm_ppl_real": generation.get("lm_ppl_real"),
            "interpolation_endpoint_exact_match": interpolation["endpoint_exact_match"],
            "interpolation_grammatical_points": interpolation.get("grammatical_points"),
            "steps": results["training"]["steps"], "final_beta": results["training"].get("final_beta"),
            "training_minutes": results["training"]["wall_seconds"] / 60,
            # absent from evaluations cached before it existed
            "exact_match_by_length": results.get("reconstruction_exact_match_by_length")}


def goals_met(row: dict) -> dict[str, bool]:
    yelp = row.get("lm_ppl_real") is not None
    met = {key: row[key] is not None and row[key] >= target
           for key, target in (YELP_GOALS if yelp else GOALS).items()}
    if yelp:
        met["fitted_prior_fluency"] = (row["fitted_prior_forward_ppl"] is not None and
                                       row["fitted_prior_forward_ppl"] <= YELP_FLUENCY_RATIO * row["lm_ppl_real"])
    return met


def machine_label(hw: dict) -> str:
    """E.g. "AMD EPYC (AVX512_BF16)": the machine a row or a table was measured on."""
    return f"{hw['cpu']} ({hw['instruction_set']})"


def run_footnote(payload: dict, detail: str = "") -> str:
    """The machine, the parallelism, (`detail`,) this command's minutes and date, and which rows
    were kept from earlier runs."""
    reused = " (with --reuse: finished trainings and evaluations kept)" if payload.get("reused") else ""
    return (f"{machine_label(payload['hardware'])}, up to {payload['parallel']} trainings at a time, one thread "
            f"each (a point's training minutes depend on how many shared the cores); {detail}this command {payload['minutes']:.1f} minutes{reused}; {payload['date']}."
            f"{measured_note(payload)}")


def pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def measured_note(payload: dict) -> str:
    """Which rows this command measured and which it kept from earlier runs (--update)."""
    kept = [row for row in payload["points"] if row.get("measured") != payload["date"]]
    if not kept:
        return ""
    dates = sorted({f"{row.get('measured')} on {row.get('machine')}" for row in kept})
    rows = lambda n: f"{n} row{'' if n == 1 else 's'}"  # noqa: E731
    return (f" {rows(len(payload['points']) - len(kept))} measured by this command, {rows(len(kept))} kept "
            f"from the results file (--update; measured {', '.join(dates)}).")


def markdown(payload: dict) -> str:
    if payload.get("corpus") == "yelp":
        return yelp_markdown(payload)
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
              f"IW-NLL with K = {payload['iw_samples']}; {payload['prior_samples']:,} prior samples per "
              f"prior; {payload['interpolation_pairs']} interpolations of 8 points; every code decoded greedily "
              "unless a row says beam. Goals: exact reconstruction "
              ">= 90%, grammatical fitted-prior samples >= 95%, grammatical interpolation points >= 95%. "
              + run_footnote(payload, "training minutes per point as its run recorded them; "), "",
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


def yelp_markdown(payload: dict) -> str:
    """The Yelp table: reconstruction against the samples' fluency under the judge LM."""
    lines = ["| point | KL | IW-NLL N(0, I) / fitted | BLEU | exact recon. | samples' forward PPL N(0, I) / fitted "
             "(x the LM's on real text) | distinct-2 N(0, I) / fitted | interp. ends | goals met | training min |",
             "|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|"]
    for row in payload["points"]:
        met, real = goals_met(row), row["lm_ppl_real"]
        ratio = lambda v: "n/a" if v is None else f"{v:,.1f} ({v / real:.2f}x)"  # noqa: E731
        lines.append(f"| {row['title']} | {num(row['kl'])} | {num(row['iw_nll'])} / {num(row['iw_nll_fitted_prior'])} | "
                     f"{num(row['reconstruction_bleu'], 1)} | {pct(row['reconstruction_exact_match'])} | "
                     f"{ratio(row['standard_prior_forward_ppl'])} / {ratio(row['fitted_prior_forward_ppl'])} | "
                     f"{num(row['standard_prior_distinct_2'], 3)} / {num(row['fitted_prior_distinct_2'], 3)} | "
                     f"{pct(row['interpolation_endpoint_exact_match'])} | {sum(met.values())}/{len(met)} | "
                     f"{num(row.get('training_minutes'), 1)} |")
    judge = payload["judge"]
    lines += ["", f"Yelp test sentences (`{payload['data']}/test.txt`, {payload['test_sentences']:,}), nats per "
              f"sentence; IW-NLL with K = {payload['iw_samples']}; {payload['prior_samples']:,} prior "
              f"samples per prior (decoded greedily unless a row says beam), their per-token perplexity under "
              "the judge: a language model with the same "
              f"decoder, data and budget ({judge['steps']:,} steps, {judge['minutes']:.1f} min), whose "
              f"perplexity on the real test sentences is {judge['ppl_real']:.2f}. Greedy samples are "
              "the decoder's most likely sentences, so a ratio under 1 is bland text, not better text: read "
              "it with distinct-2. Goals: reconstruction BLEU >= 50 and fitted-prior samples' forward "
              f"perplexity within {YELP_FLUENCY_RATIO}x the LM's on real text. " + run_footnote(payload), "",
              f"Command: `{payload['command']}`", ""]
    return "\n".join(lines)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both coordinates (higher is better), sorted by x."""
    front = [p for p in points
             if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)]
    return sorted(set(front))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def yelp_plot(payload: dict, out_png: Path) -> None:
    """Reconstruction BLEU (x) against the samples' forward perplexity over the LM's on real text
    (y, lower reads better): one series per prior and decoding (solid: greedy; dashed: beam
    search, with whatever re-ranking or refinement its rows name), with the goals dotted."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 5.5))
    for key, label, colour in (("standard_prior_forward_ppl", "N(0, I)", "tab:blue"),
                               ("fitted_prior_forward_ppl", "fitted mixture", "tab:orange")):
        for greedy, style in ((True, "-"), (False, "--")):
            rows = sorted((r for r in payload["points"] if r[key] is not None
                           and (r.get("decoding", "greedy") == "greedy") == greedy),
                          key=lambda r: r["reconstruction_bleu"])
            if not rows:
                continue
            xs, ys = [r["reconstruction_bleu"] for r in rows], [r[key] / r["lm_ppl_real"] for r in rows]
            axis.plot(xs, ys, marker="o", linestyle=style, color=colour,
                      label=f"samples from {label}, {'greedy' if greedy else 'beam search'}")
            for row, x, y in zip(rows, xs, ys):
                axis.annotate(row["point"].removeprefix("yelp_"), (x, y), fontsize=6, xytext=(3, 3),
                              textcoords="offset points")
    axis.axvline(YELP_GOALS["reconstruction_bleu"], color="grey", linestyle=":", linewidth=1)
    axis.axhline(YELP_FLUENCY_RATIO, color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("reconstruction BLEU on Yelp test sentences")
    axis.set_ylabel("samples' forward PPL / the LM's PPL on real text")
    axis.set_title("Rate trade-off on Yelp sentences (dotted: the goals)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_png, dpi=120)
    plt.close(figure)


def plot(payload: dict, out_png: Path) -> None:
    """Reconstruction exact match (x) against grammatical prior samples (y): every point under
    both priors, and each prior's frontier (the points no other point beats on both)."""
    if payload.get("corpus") == "yelp":
        return yelp_plot(payload, out_png)
    plt = _pyplot()
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
    axis.set_ylabel("grammatical prior samples (%)")
    axis.set_title("Rate trade-off on the built-in corpus (dotted: the goals)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(out_png, dpi=120)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a folder with train.txt, valid.txt and test.txt (Yelp sentences): "
                                       "its points instead of the built-in corpus's")
    parser.add_argument("--config", help="the config every point starts from (default: demo_beta1, the "
                                         "earlier beta = 1 demo; with --data, yelp)")
    parser.add_argument("--points", help="which points (default: all of the corpus's)")
    parser.add_argument("--work-dir", help="run directories and logs (default runs/bench/rate, "
                                           "with --data runs/bench/rate_yelp)")
    parser.add_argument("--results-dir", default=relative(RESULTS), help="where the .json/.md/.png go")
    parser.add_argument("--parallel", type=int, help="trainings at a time (default 2; with --data 3)")
    parser.add_argument("--eval-threads", type=int, default=2, help="torch threads for evaluation")
    parser.add_argument("--iw-samples", type=int, default=50, help="importance samples (default 50)")
    parser.add_argument("--prior-samples", type=int, default=1000, help="prior samples per prior")
    parser.add_argument("--interpolation-pairs", type=int, default=100, help="interpolations")
    parser.add_argument("--beam", type=int, default=1, metavar="W",
                        help="decode every latent code (reconstructions, prior samples, interpolations) by "
                             "beam search of width W (rows '<point>+beamW'; default 1: greedy)")
    parser.add_argument("--rerank", action="store_true",
                        help="with --beam: re-order the beams of reconstructions and interpolation ends by "
                             "log p(x | z) + log q(z | x), the sentence that encodes back to its code "
                             "first (rows '<point>+beamW+re-ranked'; prior samples: plain beam search)")
    parser.add_argument("--refine", type=int, default=0, metavar="N",
                        help="take the prior samples N times through the autoencoder, as `sentvae sample "
                             "--refine N` does (rows '...+refinedN'; default 0)")
    parser.add_argument("--fusion-weight", type=float, default=0.0, metavar="W",
                        help="built-in corpus: decode every code with the point language_model fused in, "
                             "weight W in [0, 1) (rows '...+fusedW'; default 0: no fusion)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override for every point")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs and evaluations")
    parser.add_argument("--update", action="store_true",
                        help="keep the results file's rows of the points not run this time")
    parser.add_argument("--quick", action="store_true", help="tiny runs, for a smoke test")
    args = parser.parse_args(argv)
    if args.rerank and args.beam < 2:
        fail("--rerank needs --beam W with W >= 2")
    if args.refine < 0:
        fail(f"--refine takes a number of rounds >= 0, got {args.refine}")
    if not 0 <= args.fusion_weight < 1:
        fail(f"--fusion-weight must be in [0, 1), got {args.fusion_weight}")
    if args.fusion_weight and args.data:
        fail("--fusion-weight is for the built-in corpus (Yelp has its judge language model instead)")
    if args.data and not all((Path(args.data) / f"{split}.txt").is_file() for split in ("train", "valid", "test")):
        fail(f"{args.data}: needs train.txt, valid.txt and test.txt")
    points = corpus_points(args)
    args.config = args.config or ("yelp" if args.data else "demo_beta1")
    args.work_dir = args.work_dir or ("runs/bench/rate_yelp" if args.data else "runs/bench/rate")
    args.parallel = args.parallel or (3 if args.data else 2)
    names = [n for n in (args.points or ",".join(points)).split(",") if n]
    unknown = [n for n in names if n not in points]
    if unknown:
        fail(f"unknown points {unknown} (known: {', '.join(points)})")
    if args.data and YELP_LM not in names:
        names.insert(0, YELP_LM)  # the judge of every point's samples
    if args.fusion_weight and BUILTIN_LM not in names:
        names.insert(0, BUILTIN_LM)  # fused into every decoding
    if args.quick:
        args.prior_samples, args.interpolation_pairs, args.iw_samples = 50, 5, 5
    name = ("rate_yelp" if args.data else "rate") + ("_quick" if args.quick else "")
    json_path = Path(args.results_dir) / f"{name}.json"
    started = time.perf_counter()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commands = train_points(args, names)
    machine = machine_label(hardware())
    rows, evaluations = [], {}
    for point in names:
        if point in (YELP_LM, BUILTIN_LM):
            continue
        echo(f"{point}: evaluating")
        evaluations[point] = score_point(args, point)
        rows.append(point_row(point, evaluations[point], points[point][0], date, machine))
    if args.update and json_path.is_file():  # the other rows, as they were measured
        earlier = json.loads(json_path.read_text(encoding="utf-8"))
        fresh = {row["point"] for row in rows}
        kept = [{**row, "measured": row.get("measured", earlier["date"]),
                 "machine": row.get("machine", machine_label(earlier["hardware"]))}
                for row in earlier["points"] if row["point"] not in fresh]
        order = list(points)
        base = lambda row: row["point"].split("+")[0]  # noqa: E731  (a beam row sorts beside its point)
        rows = sorted(kept + rows, key=lambda row: order.index(base(row)) if base(row) in order else len(order))
        commands = {**earlier.get("training_commands", {}), **commands}
    payload = {"benchmark": "rate", "corpus": "yelp" if args.data else "builtin", "date": date,
               "command": "python " + shlex.join([relative(sys.argv[0]), *(sys.argv[1:] if argv is None else argv)]),
               "training_commands": commands, "hardware": hardware(), "parallel": args.parallel,
               "iw_samples": args.iw_samples, "prior_samples": args.prior_samples,
               "interpolation_pairs": args.interpolation_pairs,
               "test_sentences": next(iter(evaluations.values()))["sentences"], "points": rows,
               "goals": {row["point"]: goals_met(row) for row in rows},
               "minutes": (time.perf_counter() - started) / 60, "reused": args.reuse}
    if args.data:
        judge = read_run_summary(Path(args.work_dir) / YELP_LM)
        payload.update(data=relative(args.data), judge={
            "run": str(Path(args.work_dir) / YELP_LM), "steps": judge["steps"],
            "minutes": judge["wall_seconds"] / 60,
            "ppl_real": next(iter(evaluations.values()))["generation"]["lm_ppl_real"]})
    json_path, md_path = write_results(name, payload, markdown(payload), args.results_dir)
    plot(payload, Path(args.results_dir) / f"{name}.png")
    print(markdown(payload))
    echo(f"wrote {json_path}, {md_path} and {name}.png")
    return 0

if __name__ == "__main__":
    sys.exit(main())

"""The protocol shared by the corpus benchmarks (ptb.py, yelp.py): train, evaluate, report.

    train     each model in its own `sentvae train` subprocess, all at once, logs next to the runs;
              `--reuse` keeps a run whose training has finished (best/ exists, the log says done)
    evaluate  the best checkpoint on the test file with `sentvae.evaluate` (cached per run in
              evaluation.json, keyed by the settings and the checkpoint)
    report    results/<name>.json and a Markdown table (models side by side, goals met or not,
              wall times, tokens/s, hardware, commands)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def echo(message: str) -> None:
    print(message, flush=True)


def fail(message: str) -> None:
    """Stop with a one-line error and exit status 2 (something the user can fix)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def relative(path) -> str:
    """A path relative to the working directory when it lies below it (shorter commands)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --- command line --------------------------------------------------------------------------------

def add_protocol_arguments(parser: argparse.ArgumentParser, name: str, budget: float,
                           max_epochs: int | None) -> None:
    """The options every corpus benchmark has."""
    parser.add_argument("--config", default=relative(REPO / "configs" / f"{name}.yaml"),
                        help=f"model and training config (default configs/{name}.yaml)")
    parser.add_argument("--work-dir", default=f"runs/bench/{name}",
                        help=f"run directories and training logs (default runs/bench/{name})")
    parser.add_argument("--results-dir", default=relative(RESULTS),
                        help="where <name>.json and <name>.md go (default benchmarks/results)")
    parser.add_argument("--budget-minutes", type=float, default=budget,
                        help=f"wall-clock training budget per model: train.max_minutes (default {budget:g})")
    parser.add_argument("--max-epochs", type=int, default=max_epochs,
                        help="train.max_epochs (default: " + (f"{max_epochs})" if max_epochs else "the config's)"))
    parser.add_argument("--threads-per-run", type=int, default=1,
                        help="torch threads of each training process (default 1; the runs train at once)")
    parser.add_argument("--eval-threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads for the evaluation (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="training and evaluation seed (default 0)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep runs whose training has finished instead of refusing to overwrite them")
    parser.add_argument("--iw-samples", type=int, default=100, metavar="K",
                        help="importance samples per sentence for the VAE's NLL (default 100)")
    parser.add_argument("--prior-samples", type=int, default=1000, metavar="N",
                        help="prior samples for distinct-n / self-BLEU (default 1000)")
    parser.add_argument("--max-test-sentences", type=int, metavar="N",
                        help="evaluate only the first N test sentences (smoke runs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for every training run (repeatable)")
    parser.add_argument("--vae-set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the VAE's run only, for a lever that has no meaning "
                             "for the language model, e.g. train.free_bits=0.16 (repeatable; a --set of "
                             "the same key wins)")
    parser.add_argument("--lm-from", metavar="RESULTS_JSON",
                        help="take the language model from an earlier results file of this benchmark "
                             "instead of training it again (with --vae-set: a VAE-only change); refused "
                             "unless its training command resolves to the config this run would train "
                             "and its evaluation used the same settings")


# --- hardware --------------------------------------------------------------------------------------

def hardware() -> dict:
    """CPU model, cores, memory, GPU, Python and torch versions, torch threads and the 1-minute
    load average now (how busy the machine was): the one hardware record of every benchmark."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    # The widest vector / matrix instructions, which decide whether bf16 is fast (README: Speed).
    instruction_set = next((name for flag, name in (("amx_tile", "AMX"), ("avx512_bf16", "AVX512_BF16"),
                                                    ("avx512f", "AVX512"), ("avx2", "AVX2"))
                            if flag in flags), "unknown")
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return {"cpu": cpu, "instruction_set": instruction_set, "logical_cores": os.cpu_count(),
            "memory_gb": memory_gb,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}"}


# --- training --------------------------------------------------------------------------------------

@dataclass
class ModelSpec:
    """One model of a benchmark: a name (the run directory) and its extra config overrides."""

    name: str
    title: str
    overrides: list[str] = field(default_factory=list)


def vae_and_lm(args) -> list[ModelSpec]:
    """The VAE (with `--vae-set`) and its language-model baseline: the same config with the
    latent code switched off and no word dropout."""
    return [ModelSpec("vae", "VAE", list(args.vae_set)),
            ModelSpec("lm", "LM baseline", ["model.use_latent=false", "model.word_dropout=0"])]


def train_arguments(args, spec: ModelSpec, files: dict[str, str]) -> list[str]:
    """The `sentvae train` arguments of one model (what the log and the report record)."""
    command = ["train", "--config", args.config, "--train", files["train"], "--valid", files["valid"]]
    if files.get("test"):
        command += ["--test", files["test"]]
    command += ["--out", str(Path(args.work_dir) / spec.name), "--threads", str(args.threads_per_run),
                "--seed", str(args.seed), "--set", f"max_minutes={args.budget_minutes:g}"]
    if args.max_epochs:
        command += ["--set", f"max_epochs={args.max_epochs}"]
    for override in spec.overrides + list(args.set):  # --set wins (levers.py sizes models with it)
        command += ["--set", override]
    return command + ["--quiet"]


def config_differences(args, spec: ModelSpec, files: dict[str, str]) -> list[str]:
    """Keys where a run's config.resolved.yaml differs from what this benchmark would train.

    A reused run is reported as if trained by `train_arguments`; this checks that claim, reading
    that command line as `sentvae train` does (`command_configs`).
    """
    import yaml

    from sentvae.config import resolve_output_layer

    run_dir = Path(args.work_dir) / spec.name
    model_cfg, train_cfg = command_configs(shlex.join(["sentvae", *train_arguments(args, spec, files)]))
    saved = yaml.safe_load((run_dir / "config.resolved.yaml").read_text(encoding="utf-8"))
    # The run saved its output layer as resolved for its vocabulary ("auto" -> "full"/"adaptive").
    model_cfg.vocab_size = saved.get("model", {}).get("vocab_size", model_cfg.vocab_size)
    resolve_output_layer(model_cfg, train_cfg.tokenizer)
    expected = {"model": vars(model_cfg), "train": vars(train_cfg)}
    differences = []
    for section, values in expected.items():
        for key, value in values.items():
            found = saved.get(section, {}).get(key)
            if key == "vocab_size" and section == "model":
                continue  # set from the trained tokenizer
            if key == "bf16" and value is None and isinstance(found, bool):
                continue  # "auto": the run saved what it resolved to on its device
            if key == "test_file":
                continue  # only evaluated after training: it cannot change the trained weights
            if key.endswith("_file") or key == "out_dir":
                same = (value is None and found is None) or (
                    value is not None and found is not None
                    and os.path.realpath(value) == os.path.realpath(found))
            else:
                same = found == value
            if not same:
                differences.append(f"{section}.{key}: run has {found!r}, benchmark expects {value!r}")
    return differences


def read_run_summary(run_dir: Path) -> dict | None:
    """The summary.json a finished `sentvae train` wrote (None if it has not finished)."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def run_state(run_dir: Path) -> str:
    """"finished" (summary.json and a best checkpoint), "unfinished" (running or stopped) or "absent"."""
    summary = read_run_summary(run_dir)
    if (run_dir / "best" / "config.json").exists() and summary and summary["stopped"] != "interrupted":
        return "finished"
    if run_dir.exists() and any(run_dir.iterdir()):
        return "unfinished"
    return "absent"


def train_all(args, specs: list[ModelSpec], files: dict[str, str]) -> dict[str, str]:
    """Train every model that needs it, all at the same time; return each model's command line."""
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    commands, processes = {}, {}
    for spec in specs:
        arguments = train_arguments(args, spec, files)
        commands[spec.name] = shlex.join(["sentvae", *arguments])
        run_dir, log = work / spec.name, work / f"{spec.name}.log"
        state = run_state(run_dir)
        if state == "finished" and args.reuse:
            echo(f"{spec.name}: reusing the finished training in {run_dir}")
            differences = config_differences(args, spec, files)
            if differences:
                fail(f"{run_dir} was trained with other settings than these options give: "
                     + "; ".join(differences))
            continue
        if state != "absent":
            hint = ("its training has not finished (no summary.json; its log is " f"{log}); wait for it, or "
                    if state == "unfinished" else "")
            fail(f"{run_dir} already holds a run; {hint}"
                     f"{'pass --reuse or ' if state == 'finished' else ''}choose another --work-dir")
        echo(f"{spec.name}: training -> {log}\n  {commands[spec.name]}")
        handle = log.open("w", encoding="utf-8")
        processes[spec.name] = (subprocess.Popen([sys.executable, "-m", "sentvae", *arguments],
                                                 stdout=handle, stderr=subprocess.STDOUT), handle)
    codes = {name: process.wait() for name, (process, _) in processes.items()}
    for name, (_, handle) in processes.items():
        handle.close()
    for name, code in codes.items():
        log = work / f"{name}.log"
        if code != 0:
            tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
            fail(f"training {name} failed (exit status {code}); end of {log}:\n{tail}")
        echo(f"{name}: training finished")
    return commands


def training_summary(run_dir: Path) -> dict:
    """Steps, stop reason, wall time, tokens/s, memory and best validation of a run, from the
    summary.json and metrics.jsonl that `sentvae train` wrote (and the last checkpoint's state)."""
    from sentvae.checkpoint import resolve_checkpoint
    from sentvae.plot import read_metrics
    from sentvae.run import load_resume_state

    summary: dict = {"run_dir": str(run_dir)}
    written = read_run_summary(run_dir)
    if written:
        summary.update(stopped=written["stopped"], steps=written["steps"],
                       wall_minutes_logged=written["wall_seconds"] / 60,
                       train_tokens_per_s=written["train_tokens_per_s"])
        if "peak_rss_mb" in written:
            summary["peak_rss_mb"] = written["peak_rss_mb"]
    try:
        state = load_resume_state(resolve_checkpoint(run_dir / "last"))["state"]
        summary.update(loop_minutes=state["elapsed_seconds"] / 60, steps=state["step"])
        if state["epoch"] > 0:  # `epoch` is the 0-based epoch in progress; count the fraction done
            per_epoch = (state["step"] - state["batch_in_epoch"]) / state["epoch"]
            summary["epochs"] = round(state["epoch"] + state["batch_in_epoch"] / per_epoch, 2)
        else:
            summary["epochs"] = "< 1"
    except Exception as exc:  # no resumable last checkpoint: report what the summary says
        summary["loop_minutes_error"] = str(exc)
    records = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    rates = [r["tokens_per_s"] for r in records if r.get("split") == "train" and "tokens_per_s" in r]
    valid = [r for r in records if r.get("split") == "valid"]
    summary["train_tokens_per_s_median"] = statistics.median(rates) if rates else None
    if valid:
        marked = [r for r in valid if r.get("best")]  # what the run selected (objective.validation_loss)
        best = marked[-1] if marked else min(valid, key=lambda r: r["neg_elbo_per_sentence"])
        summary.update(best_valid_neg_elbo=best["neg_elbo_per_sentence"], best_valid_step=best["step"],
                       validations=len(valid),
                       best_valid={key: best[key] for key in ("step", "epoch", "neg_elbo_per_sentence",
                                                              "rec_per_sentence", "kl_per_sentence",
                                                              "active_units")})
    return summary


# --- evaluation ------------------------------------------------------------------------------------

def checkpoint_identity(run_dir: Path) -> str:
    """Which checkpoint `best` points at (its directory name), to invalidate cached evaluations."""
    return os.path.realpath(run_dir / "best").rsplit(os.sep, 1)[-1]


def evaluate_run(args, run_dir: Path, test_file: str, text_column: str = "text") -> dict:
    """Evaluate a run's best checkpoint on the test file (cached in <run>/evaluation.json)."""
    import torch

    from sentvae.evaluate import evaluate, load_evaluation_split
    from sentvae.pipeline import VAEPipeline

    settings = {"test_file": str(Path(test_file).resolve()), "text_column": text_column,
                "iw_samples": args.iw_samples, "prior_samples": args.prior_samples, "seed": args.seed,
                "max_test_sentences": args.max_test_sentences, "checkpoint": checkpoint_identity(run_dir)}
    cache = run_dir / "evaluation.json"
    if cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("settings") == settings:
            echo(f"{run_dir.name}: reusing the evaluation in {cache}")
            return saved
    torch.set_num_threads(args.eval_threads)
    vae = VAEPipeline.from_pretrained(run_dir)
    split = load_evaluation_split(vae, test_file, text_column=text_column,
                                  max_sentences=args.max_test_sentences)
    echo(f"{run_dir.name}: evaluating on {len(split):,} sentences ({split.num_targets:,} targets) "
         f"with {args.eval_threads} thread(s)")
    started = time.perf_counter()
    results = evaluate(vae, split, iw_samples=args.iw_samples, seed=args.seed,
                       prior_samples=args.prior_samples, echo=lambda line: echo(f"  {line}"))
    payload = {"settings": settings, "parameters": sum(p.numel() for p in vae.model.parameters()),
               "evaluation_seconds": time.perf_counter() - started,
               "evaluation_threads": args.eval_threads, "results": results}
    cache.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return payload


# --- goals and reports -----------------------------------------------------------------------------

def goal(description: str, value, target: str, met: bool, note: str = "") -> dict:
    return {"goal": description, "value": value, "target": target, "met": bool(met), "note": note}


def _cell(value, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def metric_rows(models: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """(label, one cell per model) rows of the side-by-side table."""

    def row(label, getter, digits=2):
        cells = []
        for model in models.values():
            try:
                cells.append(_cell(getter(model), digits))
            except (KeyError, TypeError):
                cells.append("n/a")
        return label, cells

    r = lambda key: (lambda m: m["evaluation"]["results"][key])  # noqa: E731
    t = lambda key: (lambda m: m["training"].get(key))  # noqa: E731
    return [
        row("NLL per sentence (nats; VAE: IW bound, LM: exact)", r("nll_per_sentence")),
        row("NLL method", lambda m: (f"IW, K={m['evaluation']['results']['iw_samples']}"
                                     if m["evaluation"]["results"]["latent"] else "exact")),
        row("NLL per token (nats, targets incl. <eos>)", r("nll_per_token"), 4),
        row("perplexity", r("ppl")),
        row("-ELBO per sentence (beta = 1)", r("neg_elbo_per_sentence")),
        row("reconstruction NLL per sentence", r("rec_per_sentence")),
        row("KL per sentence", lambda m: (m["evaluation"]["results"]["kl_per_sentence"]
                                          if m["evaluation"]["results"]["latent"] else None)),
        row("mutual information (He et al.)", r("mutual_information"), 3),
        row("active units", lambda m: (f"{m['evaluation']['results']['active_units']}/"
                                       f"{m['evaluation']['results']['latent_dim']}"
                                       if m["evaluation"]["results"]["latent"] else None)),
        row("reconstruction BLEU (posterior mean, greedy)", r("reconstruction_bleu")),
        row("prior samples: decoding", r("prior_strategy")),
        row("prior samples: distinct-1", r("distinct_1"), 3),
        row("prior samples: distinct-2", r("distinct_2"), 3),
        row("prior samples: self-BLEU", r("self_bleu")),
        row("parameters", lambda m: m["evaluation"]["parameters"]),
        row("training steps / epochs", lambda m: f"{m['training'].get('steps', '?')} / "
                                                 f"{m['training'].get('epochs', '?')}"),
        row("training stopped by", t("stopped")),
        row("training wall time (min, whole command)", t("wall_minutes_logged"), 1),
        row("training tokens/s (median of logged windows)", t("train_tokens_per_s_median"), 0),
        row("training peak resident memory (MB)", t("peak_rss_mb"), 0),
        row("best valid -ELBO per sentence", t("best_valid_neg_elbo")),
        row("evaluation wall time (min)", lambda m: m["evaluation"]["evaluation_seconds"] / 60, 1),
    ]


def markdown_report(title: str, payload: dict, extra_sections: list[str] | None = None) -> str:
    """The Markdown summary: metrics side by side, goals, setup (hardware, commands)."""
    models = payload["models"]
    names = [m["title"] for m in models.values()]
    lines = [f"## {title}", "", f"Test file: `{payload['data']['test']}` "
             f"({payload['data']['test_sentences']:,} sentences, {payload['data']['test_targets']:,} "
             "targets = words + one `<eos>` each). Nats; lower is better for NLL and perplexity.", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, cells in metric_rows(models):
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "### Goals", "", "| goal | value | target | met |", "|---|---:|---|:---:|"]
    for g in payload["goals"]:
        note = f" ({g['note']})" if g["note"] else ""
        lines.append(f"| {g['goal']} | {_cell(g['value'])} | {g['target']} | "
                     f"{'yes' if g['met'] else '**no**'}{note} |")
    for section in extra_sections or []:
        lines += ["", section]
    hw = payload["hardware"]
    lines += ["", "### Setup", "",
              f"- Hardware: {hw['cpu']}, {hw['logical_cores']} logical cores, {hw['memory_gb']} GB RAM"
              f"{', GPU ' + hw['gpu'] if hw['gpu'] else ', no GPU'}; torch {hw['torch']}, Python {hw['python']}.",
              f"- Training: the models trained at the same time, {payload['threads_per_run']} thread(s) each, "
              f"budget {payload['budget_minutes']:g} min per model; wall time includes data preparation.",
              f"- Evaluation: {payload['eval_threads']} thread(s), one model after the other; "
              f"seed {payload['seed']}.",
              f"- Date: {payload['date']}.", "", "Benchmark command:", "", "```",
              payload["command"], "```", "",
              "Training commands" + (" (runs reused with `--reuse`: these are the commands the options give; "
                                     "each run's config.resolved.yaml was checked against them, except the "
                                     "test file, which training only reads after its last step)"
                                     if "--reuse" in payload["command"].split() else "") + ":", "", "```"]
    lines += list(payload["training_commands"].values()) + ["```", ""]
    return "\n".join(lines)


def write_results(name: str, payload: dict, markdown: str, results_dir: str) -> tuple[Path, Path]:
    directory = Path(results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path


def base_payload(args, name: str, files: dict[str, str], commands: dict[str, str]) -> dict:
    return {"benchmark": name, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python " + shlex.join([relative(sys.argv[0]), *sys.argv[1:]]),
            "training_commands": commands, "hardware": hardware(), "seed": args.seed,
            "budget_minutes": args.budget_minutes, "threads_per_run": args.threads_per_run,
            "eval_threads": args.eval_threads, "data": dict(files)}


def command_configs(command: str) -> tuple:
    """(ModelConfig, TrainConfig) of a `sentvae train` command line (the config file read as it
    is now): parsed by sentvae's own CLI parser and turned into overrides as `sentvae train` does
    (`train_overrides`)."""
    from sentvae.cli import build_parser
    from sentvae.cli.training import train_overrides
    from sentvae.config import load_config

    parsed = build_parser().parse_args(shlex.split(command)[1:])  # after "sentvae"
    return load_config(parsed.config, train_overrides(parsed))


def command_config(command: str) -> dict:
    """The config a recorded `sentvae train` command line resolves to (`command_configs`) as
    plain dicts, without its out_dir, data paths made absolute."""
    model_cfg, train_cfg = command_configs(command)
    config = {"model": dict(vars(model_cfg)), "train": dict(vars(train_cfg))}
    config["train"].pop("out_dir")
    for key, value in config["train"].items():
        if key.endswith("_file") and value is not None:
            config["train"][key] = os.path.realpath(value)
    return config


def reused_model(args, spec: ModelSpec, files: dict[str, str], test_text_column: str) -> tuple[dict, str]:
    """A model's entry (and training command) from the earlier results file `args.lm_from`,
    after checking that it is the run this benchmark would train and evaluate: its command
    resolves to the same config (data, seed, budget, every override) and its evaluation had the
    same settings. Fails with one line naming the first difference otherwise."""
    path = Path(args.lm_from)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        entry, command = saved["models"][spec.name], saved["training_commands"][spec.name]
    except FileNotFoundError:
        fail(f"{path}: no such file (--lm-from takes a results JSON of this benchmark)")
    except (json.JSONDecodeError, KeyError, TypeError):
        fail(f"{path}: not a results file of this benchmark with a {spec.name!r} model")
    ours = command_config(shlex.join(["sentvae", *train_arguments(args, spec, files)]))
    theirs = command_config(command)
    for section in ours:
        for key in ours[section]:
            if ours[section][key] != theirs[section].get(key):
                fail(f"{path}: its {spec.name} was trained with {section}.{key}="
                     f"{theirs[section].get(key)!r}, this run would train {ours[section][key]!r}")
    wanted = {"test_file": str(Path(files["test"]).resolve()), "text_column": test_text_column,
              "iw_samples": args.iw_samples, "prior_samples": args.prior_samples, "seed": args.seed,
              "max_test_sentences": args.max_test_sentences}
    for key, value in wanted.items():
        if entry["evaluation"]["settings"].get(key) != value:
            fail(f"{path}: its {spec.name} was evaluated with {key}={entry['evaluation']['settings'].get(key)!r}, "
                 f"this run asks for {value!r}")
    echo(f"{spec.name}: taken from {path} (measured {saved.get('date', '?')}), not trained again")
    return dict(entry, reused_from=f"{relative(path)} (measured {saved.get('date', '?')})"), command


def run_protocol(args, name: str, specs: list[ModelSpec], files: dict[str, str],
                 test_text_column: str = "text") -> dict:
    """Train (or reuse) every model, evaluate each on the test file; the payload without goals.
    With `--lm-from` the language model comes from an earlier results file (`reused_model`)."""
    reused = {}
    if args.lm_from:
        language_model = next((spec for spec in specs if spec.name == "lm"), None)
        if language_model is None:
            fail("--lm-from: this run has no language model to take")
        reused["lm"] = reused_model(args, language_model, files, test_text_column)
    commands = train_all(args, [spec for spec in specs if spec.name not in reused], files)
    commands.update({model: command for model, (_, command) in reused.items()})
    payload = base_payload(args, name, files, commands)
    payload["models"] = {}
    for spec in specs:
        if spec.name in reused:
            payload["models"][spec.name] = reused[spec.name][0]
            continue
        run_dir = Path(args.work_dir) / spec.name
        evaluation = evaluate_run(args, run_dir, files["test"], text_column=test_text_column)
        payload["models"][spec.name] = {
            "title": spec.title, "training": training_summary(run_dir),
            "evaluation": evaluation}
    first = next(iter(payload["models"].values()))["evaluation"]["results"]
    payload["data"].update(test_sentences=first["sentences"], test_targets=first["tokens"])
    return payload

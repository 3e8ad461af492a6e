"""The training loop: a function, not a script.

`train(model_cfg, train_cfg)` prepares the data, trains with AdamW, evaluates on the validation
split every `eval_every` steps, keeps the best checkpoint (by validation ELBO at beta = 1, the
NLL bound) and the last one, and stops early after `patience` evaluations without improvement.
`resume=True` continues the run in `out_dir` exactly where its last checkpoint left it:
optimizer, schedules, step, RNG and position in the epoch's batch order (on the CPU the final
weights equal those of an uninterrupted run; a `max_minutes` budget depends on the clock).

Crash safety: a checkpoint is complete before `last` points at it, so a kill at any moment loses
at most the steps since the last checkpoint. SIGINT (Ctrl-C) or SIGTERM stops at the next step
boundary and saves a resumable checkpoint first (a second signal stops at once, without saving).
A NaN or infinite loss, gradient or validation bound raises `TrainingDiverged` before anything
diverged is saved, so `last` and `best` keep the last good model.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from .checkpoint import (TOKENIZER_FILE, WEIGHTS_FILE, CheckpointWriteError, atomic_write_text,
                         check_tokenizer_matches, fsync_directory, load_resume_state,
                         load_weights, point_link, prepare_run_dir, read_model_config,
                         resolve_checkpoint, write_checkpoint_files)
from .config import ModelConfig, TrainConfig
from .data import (EncodedSplit, bucketed_batches, carve_validation, encode_split, iterate, load_splits,
                   sorted_batches)
from .distributed import init_world, shutdown, step_noise, wrap
from .errors import CheckpointError, DataError, SentvaeError
from .model import SentenceVAE
from .objective import gaussian_kl, kl_weight, learning_rate, vae_loss
from .tokenizer import TextTokenizer


class TrainingDiverged(SentvaeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SentvaeError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


# --- evaluation on a split ---------------------------------------------------------------------

@torch.no_grad()
def evaluate_bound(model: SentenceVAE, split: EncodedSplit, batch_size: int = 128,
                   seed: int = 0) -> dict:
    """ELBO at beta = 1 with one posterior sample (fixed seed), NLL, KL and active units.

    Per sentence and per target token (targets are the words and `<eos>`). The global RNG is left
    untouched, so evaluating never changes what training does next.
    """
    was_training = model.training
    model.eval()
    device = model.device
    nll_sum = kl_sum = 0.0
    means = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for tokens, lengths in iterate(split, sorted_batches(split.lengths, batch_size)):
            out = model(tokens.to(device), lengths.to(device), sample_z=True)
            nll_sum += float(out.nll.sum())
            if out.mu is not None:
                kl_sum += float(gaussian_kl(out.mu, out.logvar).sum())
                means.append(out.mu.float().cpu())
    model.train(was_training)
    sentences, targets = len(split), split.num_targets
    bound = nll_sum + kl_sum
    active = 0
    if means and sentences > 1:
        active = int((torch.cat(means).var(dim=0, unbiased=True) > 0.01).sum())
    return {
        "elbo_per_sentence": bound / sentences,  # negative ELBO (an upper bound on the NLL)
        "nll_per_sentence": nll_sum / sentences,
        "kl_per_sentence": kl_sum / sentences,
        "elbo_per_token": bound / targets,
        "ppl_bound": math.exp(min(bound / targets, 50.0)),
        "active_units": active,
        "sentences": sentences,
        "tokens": targets,
    }


# --- the run -----------------------------------------------------------------------------------

@dataclass
class RunState:
    """Where training is; saved in every checkpoint's resume.pt."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_elbo: float = math.inf
    evals_without_improvement: int = 0
    elapsed_seconds: float = 0.0


class Run:
    """A training run directory: metrics.jsonl, checkpoints/step-N/, `last` and `best` links."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.checkpoints = self.dir / "checkpoints"

    def prepare(self, fresh: bool) -> None:
        prepare_run_dir(self.dir, resume=not fresh)

    def log(self, record: dict) -> None:
        with (self.dir / "metrics.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def rewind_log(self, step: int) -> None:
        """Forget what was logged after `step` (work a crash lost, to be redone on resume),
        and a last line cut short by a kill."""
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            # A test record is dropped too: the run scores its test file again when it ends.
            if isinstance(record, dict) and record.get("step", 0) <= step and record.get("split") != "test":
                kept.append(line + "\n")
        atomic_write_text(path, "".join(kept))

    def save(self, model, train_cfg, state: RunState, optimizer, is_best: bool) -> None:
        """Write checkpoints/step-N atomically, then swap the `last` (and `best`) links.

        The files go to a temporary directory, are fsynced, and the directory is renamed into
        place; only then do the links move (each by an atomic rename). A kill at any moment
        leaves `last` and `best` pointing at complete checkpoints.
        """
        name = f"step-{state.step:07d}"
        final = self.checkpoints / name
        temporary = self.checkpoints / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(temporary, ignore_errors=True)
        resume = {"state": vars(state).copy(), "optimizer": optimizer.state_dict(),
                  "torch_rng": torch.get_rng_state()}
        try:
            if final.exists() and str(final.resolve()) in self._referenced():
                raise RuntimeError(f"{final} is in use and would be overwritten")  # a bug
            temporary.mkdir()
            write_checkpoint_files(temporary, model, train_cfg, resume)
            if final.exists():  # left by a run killed before its link moved: never referenced
                shutil.rmtree(final)
            os.replace(temporary, final)
            fsync_directory(self.checkpoints)
            point_link(self.dir / "last", f"checkpoints/{name}")
            if is_best:
                point_link(self.dir / "best", f"checkpoints/{name}")
        except (OSError, CheckpointWriteError) as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            reason = exc.strerror if isinstance(exc, OSError) else str(exc).split(": ", 1)[-1]
            raise CheckpointError(f"{final}: could not save checkpoint ({reason}); the previous "
                                  f"checkpoint ({self.dir / 'last'}) is unchanged") from None
        self._remove_unreferenced()

    def _referenced(self) -> set[str]:
        return {os.path.realpath(self.dir / link) for link in ("last", "best")
                if (self.dir / link).exists()}

    def _remove_unreferenced(self) -> None:
        keep = self._referenced()
        for path in self.checkpoints.iterdir():
            if path.name.startswith("step-") and os.path.realpath(path) not in keep:
                shutil.rmtree(path, ignore_errors=True)


class StopSignals:
    """While active (main thread only), SIGINT and SIGTERM ask training to stop at the next step
    boundary instead of interrupting it mid-step; a second signal interrupts at once."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self):
        self.received: int | None = None
        self.forced = False
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
            return
        self.forced = True
        raise KeyboardInterrupt

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else "KeyboardInterrupt"


def _texts_except(dataset, skip_rows: np.ndarray | None):
    """The `text` column in order, without the rows in `skip_rows` (streamed in batches)."""
    skip = set() if skip_rows is None else set(skip_rows.tolist())
    position = 0
    for batch in dataset.select_columns(["text"]).iter(batch_size=10000):
        for text in batch["text"]:
            if position not in skip:
                yield text
            position += 1


def _prepare_data(model_cfg: ModelConfig, train_cfg: TrainConfig, tokenizer: TextTokenizer | None):
    raw = load_splits(train_cfg)
    held_out = None  # training-file rows that form the validation split
    if raw["valid"] is None:
        _, held_out = carve_validation(len(raw["train"]), train_cfg.valid_fraction, train_cfg.seed)
    if tokenizer is None:  # trained on the training rows only
        tokenizer = TextTokenizer.train(
            _texts_except(raw["train"], held_out), kind=train_cfg.tokenizer,
            vocab_size=train_cfg.vocab_size, min_frequency=train_cfg.min_frequency,
            lowercase=train_cfg.lowercase, split_punctuation=train_cfg.split_punctuation)
    encoded = {name: encode_split(ds, tokenizer, model_cfg.max_length, train_cfg.long_sentences,
                                  num_proc=os.cpu_count())
               for name, ds in raw.items() if ds is not None}
    if held_out is not None:
        whole = encoded["train"]
        rows = whole.rows if whole.rows is not None else np.arange(len(whole))
        is_valid = np.isin(rows, held_out)  # positions of the split whose source row is held out
        encoded["train"] = whole.subset(np.flatnonzero(~is_valid))
        encoded["valid"] = whole.subset(np.flatnonzero(is_valid))
        encoded["train"].dropped, encoded["train"].truncated = whole.dropped, whole.truncated
    for name, split in encoded.items():
        if len(split) == 0:
            source = getattr(train_cfg, f"{name}_file", None) or train_cfg.train_file or "built-in"
            raise DataError(f"{source}: the {name} split has no sentences of at most "
                            f"{model_cfg.max_length} tokens ({split.dropped} longer ones dropped; "
                            "raise model.max_length or set train.long_sentences=truncate)")
    return tokenizer, encoded


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast is the faster arithmetic on `device`: a GPU that supports it, or a
    CPU with bf16 instructions (AVX512_BF16 or AMX). CPUs without them emulate bf16 and train
    slower than in float32 (see the README's Speed section, which also gives its accuracy A/B)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence getattr
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def build_optimizer(model: torch.nn.Module, lr: float = 1e-3, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW over the model's parameters, with PyTorch's fused kernel on CPU and CUDA.

    The fused kernel does the same update as the default per-parameter loop (tests/test_train.py
    checks the parameters agree after several steps) in one pass over each tensor instead of about
    ten: at the anchor size of benchmarks/throughput.py the loop took about a quarter of a training
    step, mostly on the two dense 10k-row embedding tables.
    """
    parameters = [p for p in model.parameters() if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in parameters)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=fused or None)


def train(model_cfg: ModelConfig, train_cfg: TrainConfig, resume: bool = False,
          progress: bool = True, echo=print) -> dict:
    """Train a sentence VAE (or the language-model baseline); return a summary dict."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if train_cfg.threads:
        torch.set_num_threads(train_cfg.threads)
    device = resolve_device(train_cfg.device)
    world = init_world(device)
    if device.type == "cuda" and world.distributed:
        device = torch.device("cuda", world.local_rank)
    if not world.is_main:  # only rank 0 talks and writes
        progress, echo = False, (lambda *args, **kwargs: None)
    run = Run(train_cfg.out_dir)
    if world.is_main:
        run.prepare(fresh=not resume)
    world.barrier()
    state = RunState()
    resume_state = None
    tokenizer = None
    if resume:
        last = resolve_checkpoint(run.dir / "last")
        model_cfg = read_model_config(last)
        tokenizer = TextTokenizer.load(last / TOKENIZER_FILE)
        check_tokenizer_matches(last, model_cfg, tokenizer)
        resume_state = load_resume_state(last)
        try:
            state = RunState(**resume_state["state"])
        except TypeError as exc:
            raise CheckpointError(f"{last / 'resume.pt'}: unexpected run state ({exc})") from None
        if world.is_main:
            run.rewind_log(state.step)
    torch.manual_seed(train_cfg.seed)

    if not world.is_main:
        world.barrier()  # rank 0 fills the `datasets` cache first; the others then read it
    tokenizer, splits = _prepare_data(model_cfg, train_cfg, tokenizer)
    if world.is_main:
        world.barrier()
    model_cfg.vocab_size = tokenizer.vocab_size
    model_cfg.validate()  # checks that depend on the vocabulary size (adaptive softmax cutoffs)
    train_split, valid_split = splits["train"], splits["valid"]
    for name, split in splits.items():
        if split.dropped or split.truncated:
            what = "dropped" if split.dropped else "truncated"
            count = split.dropped or split.truncated
            echo(f"{name}: {count} sentence{'s' if count != 1 else ''} over "
                 f"{model_cfg.max_length} tokens {what} (train.long_sentences)")

    model = SentenceVAE(model_cfg, tokenizer).to(device)
    trainable = wrap(model, world, device)  # DistributedDataParallel over `model` with > 1 process
    use_bf16 = native_bf16(device) if train_cfg.bf16 is None else train_cfg.bf16
    optimizer = build_optimizer(model, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    if resume_state is not None:
        load_weights(model, last / WEIGHTS_FILE, device)
        try:
            optimizer.load_state_dict(resume_state["optimizer"])
            torch.set_rng_state(resume_state["torch_rng"])
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"{last / 'resume.pt'}: does not fit the model "
                                  f"({str(exc).splitlines()[0][:200]})") from None

    steps_per_epoch = len(bucketed_batches(train_split.lengths, train_cfg.batch_size,
                                           train_cfg.seed, 0, train_cfg.bucket_size))
    total_steps = train_cfg.max_steps or train_cfg.max_epochs * steps_per_epoch
    if train_cfg.max_steps and train_cfg.max_epochs:
        total_steps = min(total_steps, train_cfg.max_epochs * steps_per_epoch)
    eval_every = train_cfg.eval_every or steps_per_epoch
    echo(f"data: {len(train_split):,} train / {len(valid_split):,} valid sentences, "
         f"vocabulary {tokenizer.vocab_size:,}; {total_steps:,} steps on {device}"
         f"{' (bf16 autocast)' if use_bf16 else ''}; "
         f"{sum(p.numel() for p in model.parameters()):,} parameters")
    if world.distributed:
        echo(f"distributed: {world.size} processes, global batch {train_cfg.batch_size}")
    if world.is_main:
        atomic_write_text(run.dir / "config.resolved.yaml", yaml.safe_dump(  # --resume reads it
            {"model": vars(model_cfg), "train": vars(train_cfg)}, sort_keys=False))

    bar = tqdm(total=total_steps, initial=state.step, disable=not progress, unit="step",
               dynamic_ncols=True)
    window_tokens, window_start = 0, time.perf_counter()
    session_tokens, train_seconds = 0, 0.0  # measured over optimisation steps only
    # With a wall-clock budget the learning-rate decay aims at the steps that fit in it
    # (re-estimated at every log step), so a budgeted run still ends at a low learning rate.
    schedule_steps = total_steps
    run_started = time.perf_counter() - state.elapsed_seconds
    stop_reason = "finished"
    last_saved_step = state.step if resume_state is not None else -1
    model.train()

    def diverged(what: str, step: int) -> TrainingDiverged:
        """The error for a NaN/inf at `step`; nothing of that step has been saved."""
        kept = (f"the last good checkpoint is {os.path.realpath(run.dir / 'last')} (best: "
                f"{os.path.realpath(run.dir / 'best')})" if (run.dir / "last").exists()
                else "no checkpoint had been saved yet")
        return TrainingDiverged(f"{what} at step {step}; training stopped and {kept}; "
                                "try a lower train.lr or train.grad_clip")

    def checkpoint_now(evaluate: bool) -> dict | None:
        """Evaluate (optionally) and save; rank 0 only, the others wait and adopt its state."""
        nonlocal last_saved_step
        if state.step == last_saved_step:
            return None
        if not world.is_main:
            last_saved_step = state.step
            world.barrier()
            state.evals_without_improvement = int(world.share(state.evals_without_improvement, src=0))
            return None
        try:
            return _checkpoint_on_main(evaluate)
        finally:
            world.barrier()
            world.share(state.evals_without_improvement, src=0)

    def _checkpoint_on_main(evaluate: bool) -> dict | None:
        nonlocal last_saved_step
        state.elapsed_seconds = time.perf_counter() - run_started
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise diverged("the weights became NaN or infinite", state.step)
        metrics = None
        is_best = False
        if evaluate:
            metrics = evaluate_bound(model, valid_split, seed=train_cfg.seed)
            if not math.isfinite(metrics["elbo_per_sentence"]):
                raise diverged(f"the validation bound became {metrics['elbo_per_sentence']}",
                               state.step)
            is_best = metrics["elbo_per_sentence"] < state.best_elbo - 1e-6
            if is_best:
                state.best_elbo = metrics["elbo_per_sentence"]
                state.evals_without_improvement = 0
            else:
                state.evals_without_improvement += 1
            run.log({"step": state.step, "epoch": state.epoch, "split": "valid", **metrics,
                     "best": is_best})
        is_best = is_best or not (run.dir / "best").exists()
        run.save(model, train_cfg, state, optimizer, is_best)
        last_saved_step = state.step
        return metrics

    stop = StopSignals()
    step_rng = None  # RNG state at the start of a step that has not been committed
    with stop:
        try:
            while state.step < total_steps and stop_reason == "finished":
                batches = bucketed_batches(train_split.lengths, train_cfg.batch_size,
                                           train_cfg.seed, state.epoch, train_cfg.bucket_size)
                while state.batch_in_epoch < len(batches) and state.step < total_steps:
                    budget_over = bool(train_cfg.max_minutes) and \
                        time.perf_counter() - run_started > 60 * train_cfg.max_minutes
                    signalled, budget_over = world.any(stop.received is not None, budget_over)
                    if signalled:
                        stop_reason = "interrupted"
                        break
                    if budget_over:
                        stop_reason = "time budget"
                        break
                    step_started = time.perf_counter()
                    step_rng = torch.get_rng_state()  # restored if the step is interrupted
                    global_batch = batches[state.batch_in_epoch]
                    indices = world.slice(global_batch)  # this process's rows of the global batch
                    first_row = world.first_row(global_batch)
                    tokens, lengths = next(iterate(train_split, [indices]))
                    # The step's noise is drawn for the whole global batch from (seed, step) only,
                    # so resumption and any number of processes see the same draws.
                    longest = int(train_split.lengths[global_batch].max()) + 1
                    eps, uniform = step_noise(train_cfg.seed, state.step, len(global_batch),
                                              model_cfg.latent_dim if model_cfg.has_latent else 0,
                                              longest)
                    rows = slice(first_row, first_row + len(indices))
                    tokens, lengths = tokens.to(device), lengths.to(device)
                    lr = learning_rate(state.step, train_cfg, schedule_steps)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    beta = kl_weight(state.step, train_cfg, total_steps)
                    with torch.autocast(device.type, dtype=torch.bfloat16,
                                        enabled=use_bf16):
                        out = trainable(tokens, lengths, eps=eps[rows], drop_uniform=uniform[rows])
                    kl = (gaussian_kl(out.mu.float(), out.logvar.float())
                          if out.mu is not None else None)
                    loss = vae_loss(out.nll, kl, beta, train_cfg.free_bits)
                    # DDP averages gradients over processes: weight each by its share of the
                    # global batch so the result is the gradient of the global mean.
                    loss_to_minimise = loss * (len(indices) * world.size / len(global_batch))
                    if not world.distributed and not torch.isfinite(loss):
                        raise diverged(f"the loss became {float(loss.detach())}", state.step + 1)
                    optimizer.zero_grad(set_to_none=True)
                    loss_to_minimise.backward()
                    clip = train_cfg.grad_clip if train_cfg.grad_clip > 0 else math.inf  # inf: measure
                    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                    if not torch.isfinite(grad_norm):
                        raise diverged(f"the gradient norm became {float(grad_norm)}",
                                       state.step + 1)
                    optimizer.step()
                    state.step += 1
                    state.batch_in_epoch += 1
                    step_rng = None  # the step is committed
                    window_tokens += int(lengths.sum())
                    session_tokens += int(lengths.sum())
                    train_seconds += time.perf_counter() - step_started
                    bar.update(1)
                    if state.step % train_cfg.log_every == 0 or state.step == total_steps:
                        seconds = max(time.perf_counter() - window_start, 1e-9)
                        rec = float(out.nll.detach().mean())
                        kl_value = float(kl.detach().sum(1).mean()) if kl is not None else 0.0
                        record = {"step": state.step, "epoch": state.epoch, "split": "train",
                                  "loss": float(loss.detach()), "rec": rec, "kl": kl_value, "beta": beta,
                                  "lr": lr, "tokens_per_s": window_tokens / seconds}
                        run.log(record)
                        bar.set_postfix(loss=f"{record['loss']:.2f}", rec=f"{rec:.2f}",
                                        kl=f"{kl_value:.2f}", beta=f"{beta:.2f}",
                                        tok_s=f"{record['tokens_per_s']:.0f}")
                        window_tokens, window_start = 0, time.perf_counter()
                        if train_cfg.max_minutes:
                            elapsed = time.perf_counter() - run_started
                            fit = int(state.step * 60 * train_cfg.max_minutes / max(elapsed, 1e-9))
                            schedule_steps = int(world.share(max(state.step + 1, min(total_steps, fit)),
                                                             src=0))
                    if state.step % eval_every == 0:
                        metrics = checkpoint_now(evaluate=True)
                        if metrics is not None:
                            bar.write(f"step {state.step}: valid -ELBO {metrics['elbo_per_sentence']:.2f} "
                                      f"(NLL {metrics['nll_per_sentence']:.2f} + KL "
                                      f"{metrics['kl_per_sentence']:.2f}) per sentence, "
                                      f"active units {metrics['active_units']}")
                        if train_cfg.patience and state.evals_without_improvement >= train_cfg.patience:
                            stop_reason = "early stopping"
                            break
                else:
                    state.epoch += 1
                    state.batch_in_epoch = 0
        except KeyboardInterrupt:
            if stop.forced:  # a second signal: stop now, the last checkpoint stays as it is
                raise
            if step_rng is not None:  # the unfinished step is redone on resume
                torch.set_rng_state(step_rng)
            stop_reason = "interrupted"
        finally:
            bar.close()
        checkpoint_now(evaluate=stop_reason != "interrupted")
    if not world.is_main:
        shutdown(world)
        return {"stopped": stop_reason, "step": state.step, "rank": world.rank}
    shutdown(world)
    if stop_reason == "interrupted":
        echo(f"interrupted ({stop.name}) at step {state.step}; resumable checkpoint saved in "
             f"{run.dir / 'last'} (continue with --resume)")
        return {"stopped": "interrupted", "signal": stop.name, "step": state.step,
                "out_dir": str(run.dir)}
    wall = time.perf_counter() - started
    final = evaluate_bound(model, valid_split, seed=train_cfg.seed)
    summary = {
        "stopped": stop_reason, "steps": state.step, "epochs": state.epoch,
        "best_valid_elbo_per_sentence": state.best_elbo,
        "last_valid": final, "wall_seconds": wall,
        "train_tokens_per_s": session_tokens / max(train_seconds, 1e-9),
        "out_dir": str(run.dir),
    }
    latent_dim = model_cfg.latent_dim if model_cfg.has_latent else 0
    echo(f"done ({stop_reason}) after {state.step} steps in {wall / 60:.1f} min: last valid "
         f"-ELBO {final['elbo_per_sentence']:.2f} per sentence (KL {final['kl_per_sentence']:.2f}, "
         f"{final['active_units']}/{latent_dim} active units); "
         f"best {state.best_elbo:.2f}; checkpoints in {run.dir}/best and {run.dir}/last")
    if "test" in splits:  # the best checkpoint on the test file, the same single-sample bound
        best = resolve_checkpoint(run.dir / "best")
        load_weights(model, best / WEIGHTS_FILE, device)
        test = evaluate_bound(model, splits["test"], seed=train_cfg.seed)
        test["checkpoint"] = Path(os.path.realpath(best)).name
        summary["test"] = test
        run.log({"step": state.step, "split": "test", **test})
        echo(f"test ({test['checkpoint']}): -ELBO {test['elbo_per_sentence']:.2f} per sentence "
             f"(NLL {test['nll_per_sentence']:.2f} + KL {test['kl_per_sentence']:.2f}), "
             f"{test['elbo_per_token']:.3f} per token incl. <eos>, "
             f"{test['active_units']}/{latent_dim} active units "
             "(one posterior sample; `sentvae evaluate` gives the importance-weighted NLL)")
    summary["peak_rss_mb"] = peak_rss_mb()
    echo(f"peak resident memory: {summary['peak_rss_mb']:,.0f} MB")
    return summary


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (ru_maxrss: KB on Linux, bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024

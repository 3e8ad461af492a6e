"""The training loop: `train(model_cfg, train_cfg)` wires data, model, steps and the run directory.

    splits.prepare_splits   the data (tokenizer trained on the training rows)
    step.train_step         one optimisation step (a function; benchmarks and tests call it too)
    likelihood.evaluate_bound validation: -ELBO at beta = 1, the quantity early stopping watches
    run.RunDirectory        metrics.jsonl, checkpoints, `best` / `last`, resume state, summary.json

Training evaluates on the validation split every `eval_every` steps, keeps the best checkpoint
(lowest validation -ELBO) and the last one, and stops early after `patience` evaluations without
improvement. `resume=True` continues the run in `out_dir` exactly where its last checkpoint left it:
optimizer, schedules, step, RNG and position in the epoch's batch order (on the CPU the final
weights equal those of an uninterrupted run; a `max_minutes` budget depends on the clock).

Crash safety: SIGINT (Ctrl-C) or SIGTERM stops at the next step boundary and saves a resumable
checkpoint first (a second signal stops at once, without saving). A NaN or infinite loss, gradient
or validation bound raises `TrainingDiverged` before anything diverged is saved, so `last` and
`best` keep the last good model.
"""

from __future__ import annotations

import math
import os
import time

import torch
import yaml

from .checkpoint import (TOKENIZER_FILE, WEIGHTS_FILE, check_tokenizer_matches, load_weights,
                         read_model_config, resolve_checkpoint)
from .config import ModelConfig, TrainConfig, resolve_output_layer
from .data import EncodedSplit, bucketed_batches, iterate
from .distributed import World, init_world, shutdown, threads_per_process, wrap
from .errors import CheckpointError, SentvaeError
from .kernel_cache import bound_kernel_caches
from .latent import fit_code_prior
from .likelihood import evaluate_bound
from .model import SentenceVAE
from .objective import kl_weight, learning_rate, validation_loss
from .pipeline import save_prior
from .run import RunDirectory, RunState
from .signals import StopSignals
from .splits import long_sentence_notes, prepare_splits_apart
from .step import NonFiniteStep, build_optimizer, native_bf16, step_noise, train_step
from .tokenizer import TextTokenizer


class TrainingDiverged(SentvaeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SentvaeError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (ru_maxrss: KB on Linux, bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the operating system (glibc's malloc_trim; elsewhere
    nothing happens). A training step's tensors of many sizes leave the heap fragmented: the
    pages stay resident though nothing uses them. Trimming before each validation and checkpoint,
    whose buffers would otherwise come on top, lowers the peak; it costs a few milliseconds, so
    it is not done every step. Returns whether it could trim."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return False
    trim(0)
    return True


def _silent(*args, **kwargs) -> None:
    return None


def total_steps(train_cfg: TrainConfig, steps_per_epoch: int) -> int:
    """The run's length in steps: `max_steps`, `max_epochs` of `steps_per_epoch`, or the smaller."""
    steps = train_cfg.max_steps or train_cfg.max_epochs * steps_per_epoch
    if train_cfg.max_steps and train_cfg.max_epochs:
        steps = min(steps, train_cfg.max_epochs * steps_per_epoch)
    return steps


def thread_note(threads: int) -> str:
    return f" ({threads} thread{'' if threads == 1 else 's'})"


def train(model_cfg: ModelConfig, train_cfg: TrainConfig, resume: bool = False,
          progress: bool = True, echo=print) -> dict:
    """Train a sentence VAE (or the language-model baseline); return (and write) its summary."""
    started = time.perf_counter()
    bound_kernel_caches(train_cfg.kernel_cache)  # before the first kernel is built
    torch.set_num_threads(threads_per_process(train_cfg.threads))
    device = resolve_device(train_cfg.device)
    world = init_world(device)
    if device.type == "cuda" and world.distributed:
        device = torch.device("cuda", world.local_rank)
    if not world.is_main:  # only rank 0 talks and writes
        progress, echo = False, _silent
    run = RunDirectory(train_cfg.out_dir)
    if world.is_main:
        run.prepare(fresh=not resume)
    world.barrier()
    state, payload, tokenizer = RunState(), None, None
    if resume:
        model_cfg = read_model_config(resolve_checkpoint(run.last))
        tokenizer = TextTokenizer.load(run.last / TOKENIZER_FILE)
        check_tokenizer_matches(run.last, model_cfg, tokenizer)
        state, payload = run.restore()
        if world.is_main:
            run.rewind_log(state.step)
    torch.manual_seed(train_cfg.seed)

    if not world.is_main:
        world.barrier()  # rank 0 fills the `datasets` cache first; the others then read it
    tokenizer, splits = prepare_splits_apart(model_cfg, train_cfg, tokenizer)  # datasets stays out of this process
    if world.is_main:
        world.barrier()
    model_cfg.vocab_size = tokenizer.vocab_size
    resolve_output_layer(model_cfg, train_cfg.tokenizer)  # "auto" -> the full or adaptive softmax
    model_cfg.validate()  # checks that depend on the vocabulary size (adaptive softmax cutoffs)
    for note in long_sentence_notes(splits, model_cfg.max_length):
        echo(note)

    model = SentenceVAE(model_cfg).to(device)
    trainable = wrap(model, world, device)  # DistributedDataParallel over `model` with > 1 process
    optimizer = build_optimizer(model, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    if payload is not None:
        load_weights(model, run.last / WEIGHTS_FILE, device)
        try:
            optimizer.load_state_dict(payload["optimizer"])
            torch.set_rng_state(payload["torch_rng"])
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"{run.last / 'resume.pt'}: does not fit the model "
                                  f"({str(exc).splitlines()[0][:200]})") from None
    loop = TrainingLoop(model, trainable, optimizer, tokenizer, splits, state,
                        model_cfg, train_cfg, run, world, device, progress, echo,
                        resumed=payload is not None)
    if world.is_main:
        run.write_config(yaml.safe_dump({"model": vars(model_cfg), "train": vars(train_cfg)},
                                        sort_keys=False))  # --resume reads it
    loop.run()
    shutdown(world)
    if not world.is_main:
        return {"stopped": loop.stop_reason, "steps": state.step, "rank": world.rank}
    summary = loop.finish(time.perf_counter() - started)
    run.write_summary(summary)
    return summary


class TrainingLoop:
    """The state of one training session, and the loop over epochs and batches."""

    def __init__(self, model: SentenceVAE, trainable: torch.nn.Module, optimizer, tokenizer,
                 splits: dict[str, EncodedSplit], state: RunState, model_cfg: ModelConfig,
                 train_cfg: TrainConfig, run: RunDirectory, world: World, device: torch.device,
                 progress: bool, echo, resumed: bool):
        self.model, self.trainable, self.optimizer, self.tokenizer = model, trainable, optimizer, tokenizer
        self.splits, self.state, self.run_dir, self.world = splits, state, run, world
        self.model_cfg, self.cfg, self.device, self.echo, self.progress = model_cfg, train_cfg, device, echo, progress
        self.train_split, self.valid_split = splits["train"], splits["valid"]
        self.bf16 = native_bf16(device) if train_cfg.bf16 is None else train_cfg.bf16
        steps_per_epoch = len(self._batches(0))
        self.total_steps = total_steps(train_cfg, steps_per_epoch)
        self.eval_every = train_cfg.eval_every or steps_per_epoch
        # With a wall-clock budget the learning-rate decay and the KL schedule aim at the steps
        # that fit in it (re-estimated at every log step), so a budgeted run still ends at a low
        # learning rate and with beta at its target.
        self.schedule_steps = self.total_steps
        self.run_started = time.perf_counter() - state.elapsed_seconds
        self.last_saved_step = state.step if resumed else -1
        self.stop_reason = "finished"
        self.beta = self._schedule(max(state.step - 1, 0))["beta"]  # of the last step
        self.stop = StopSignals()
        self.window_tokens, self.window_start = 0, time.perf_counter()
        self.session_tokens, self.train_seconds = 0, 0.0  # over optimisation steps only
        echo(f"data: {len(self.train_split):,} train / {len(self.valid_split):,} valid sentences, "
             f"vocabulary {tokenizer.vocab_size:,}; {self.total_steps:,} steps on {device}"
             f"{thread_note(torch.get_num_threads()) if device.type == 'cpu' else ''}"
             f"{' (bf16 autocast)' if self.bf16 else ''}; "
             f"{sum(p.numel() for p in model.parameters()):,} parameters")
        if world.distributed:
            echo(f"distributed: {world.size} processes, global batch {train_cfg.batch_size}")

    def _schedule(self, step: int) -> dict:
        """Learning rate and KL term of `step`. With `autoencoder_steps` A, steps before A train an
        autoencoder (no KL term) on their own warm-up and decay; from A on, the VAE's schedules
        start again at zero and span the remaining steps."""
        cfg, pretrain = self.cfg, self.cfg.autoencoder_steps if self.model_cfg.has_latent else 0
        if step < pretrain:
            return {"lr": learning_rate(step, cfg, min(pretrain, self.schedule_steps)), "beta": 0.0,
                    "free_bits": 0.0, "kl_target": 0.0, "mmd_weight": 0.0}
        step, total = step - pretrain, self.total_steps - pretrain
        horizon = max(self.schedule_steps - pretrain, 1)
        return {"lr": learning_rate(step, cfg, horizon), "free_bits": cfg.free_bits,
                "beta": kl_weight(step, cfg, total, horizon=horizon), "kl_target": cfg.kl_target,
                "mmd_weight": cfg.mmd_weight}

    def _start_vae_phase(self) -> None:
        """The end of autoencoder pretraining: re-initialise the decoder (and forget its optimizer
        state); the best validation loss so far belonged to the autoencoder, so it is forgotten."""
        if self.cfg.reset_decoder:
            self.model.reset_decoder()
            self.world.broadcast_parameters(self.model.decoder)
            for parameter in self.model.decoder.parameters():
                self.optimizer.state.pop(parameter, None)
        self.state.best_valid_loss, self.state.evals_without_improvement = math.inf, 0
        (self.bar.write if self.progress else self.echo)(
            f"step {self.state.step}: autoencoder pretraining done"
            f"{'; decoder re-initialised' if self.cfg.reset_decoder else ''}; training the VAE")

    def _batches(self, epoch: int) -> list:
        return bucketed_batches(self.train_split.lengths, self.cfg.batch_size, self.cfg.seed, epoch,
                                self.cfg.bucket_size)

    def _diverged(self, what: str, step: int) -> TrainingDiverged:
        """The error for a NaN/inf at `step`; nothing of that step has been saved."""
        run = self.run_dir
        kept = (f"the last good checkpoint is {os.path.realpath(run.last)} (best: "
                f"{os.path.realpath(run.best)})" if run.last.exists()
                else "no checkpoint had been saved yet")
        return TrainingDiverged(f"{what} at step {step}; training stopped and {kept}; "
                                "try a lower train.lr or train.grad_clip")

    def _best_description(self) -> str:
        """The best validation loss, with what it is where it is not the bound."""
        loss, cfg = self.state.best_valid_loss, self.cfg
        if cfg.kl_target > 0:
            return f"{loss:.2f} (rec + {cfg.beta:g} * |KL - {cfg.kl_target:g}|)"
        return f"{loss:.2f}" if cfg.beta == 1.0 else f"{loss:.2f} (rec + {cfg.beta:g} * KL)"

    def _should_stop(self) -> bool:
        budget = self.cfg.max_minutes
        budget_over = bool(budget) and time.perf_counter() - self.run_started > 60 * budget
        signalled, budget_over = self.world.any(self.stop.received is not None, budget_over)
        if signalled or budget_over:
            self.stop_reason = "interrupted" if signalled else "time budget"
        return signalled or budget_over

    def run(self) -> None:
        """Epochs of bucketed batches until the step limit, early stopping, the budget or a signal."""
        from tqdm.auto import tqdm

        state = self.state
        self.bar = tqdm(total=self.total_steps, initial=state.step, disable=not self.progress,
                        unit="step", dynamic_ncols=True)
        self.model.train()
        step_rng = None  # RNG state at the start of a step that has not been committed
        with self.stop:
            try:
                while state.step < self.total_steps and self.stop_reason == "finished":
                    batches = self._batches(state.epoch)
                    while state.batch_in_epoch < len(batches) and state.step < self.total_steps:
                        if self._should_stop():
                            break
                        step_rng = torch.get_rng_state()  # restored if the step is interrupted
                        self._step(batches[state.batch_in_epoch])
                        step_rng = None  # the step is committed
                        if state.step % self.eval_every == 0 and self._validate_and_save():
                            self.stop_reason = "early stopping"
                            break
                    else:
                        state.epoch += 1
                        state.batch_in_epoch = 0
            except KeyboardInterrupt:
                if self.stop.forced:  # a second signal: stop now, the last checkpoint stays as it is
                    raise
                if step_rng is not None:  # the unfinished step is redone on resume
                    torch.set_rng_state(step_rng)
                self.stop_reason = "interrupted"
            finally:
                self.bar.close()
            self._checkpoint(evaluate=self.stop_reason != "interrupted")

    def _step(self, global_batch) -> None:
        """One optimisation step on this process's rows of `global_batch`, then the log line."""
        state, cfg, world = self.state, self.cfg, self.world
        started = time.perf_counter()
        indices = world.slice(global_batch)  # this process's rows of the global batch
        first_row = world.first_row(global_batch)
        tokens, lengths = next(iterate(self.train_split, [indices]))
        # The step's noise is drawn for the whole global batch from (seed, step) only,
        # so resumption and any number of processes see the same draws.
        longest = int(self.train_split.lengths[global_batch].max()) + 1
        latent_dim = self.model_cfg.latent_dim if self.model_cfg.has_latent else 0
        noise = step_noise(cfg.seed, state.step, len(global_batch), latent_dim, longest,
                           encoder_noise=self.model_cfg.encoder_noise, prior_draws=cfg.mmd_weight > 0)
        rows = slice(first_row, first_row + len(indices))
        if self.model_cfg.has_latent and cfg.autoencoder_steps and state.step == cfg.autoencoder_steps:
            self._start_vae_phase()
        schedule = self._schedule(state.step)
        lr, beta = schedule["lr"], schedule["beta"]
        self.beta = beta
        try:
            result = train_step(self.trainable, self.optimizer, tokens.to(self.device),
                                lengths.to(self.device), noise.rows(rows), beta=beta, lr=lr,
                                free_bits=schedule["free_bits"], kl_target=schedule["kl_target"],
                                mmd_weight=schedule["mmd_weight"], grad_clip=cfg.grad_clip,
                                bf16=self.bf16, check_loss=not world.distributed,
                                loss_scale=len(indices) * world.size / len(global_batch))
        except NonFiniteStep as exc:
            raise self._diverged(str(exc), state.step + 1) from None
        state.step += 1
        state.batch_in_epoch += 1
        self.window_tokens += result.tokens
        self.session_tokens += result.tokens
        self.train_seconds += time.perf_counter() - started
        self.bar.update(1)
        if state.step % cfg.log_every == 0 or state.step == self.total_steps:
            self._log(result, beta, lr)

    def _log(self, result, beta: float, lr: float) -> None:
        state, cfg = self.state, self.cfg
        seconds = max(time.perf_counter() - self.window_start, 1e-9)
        rec = float(result.rec.mean())
        kl = float(result.kl.sum(1).mean()) if result.kl is not None else 0.0
        record = {"step": state.step, "epoch": state.epoch, "split": "train",
                  "loss": float(result.loss), "rec": rec, "kl": kl, "beta": beta, "lr": lr,
                  "tokens_per_s": self.window_tokens / seconds}
        if result.mmd is not None:
            record["mmd"] = float(result.mmd)
        self.run_dir.log(record)
        self.bar.set_postfix(loss=f"{record['loss']:.2f}", rec=f"{rec:.2f}", kl=f"{kl:.2f}",
                             beta=f"{beta:.2f}", tok_s=f"{record['tokens_per_s']:.0f}")
        self.window_tokens, self.window_start = 0, time.perf_counter()
        if cfg.max_minutes:
            elapsed = time.perf_counter() - self.run_started
            fit = int(state.step * 60 * cfg.max_minutes / max(elapsed, 1e-9))
            self.schedule_steps = int(self.world.share(max(state.step + 1, min(self.total_steps, fit)),
                                                       src=0))

    def _validate_and_save(self) -> bool:
        """Evaluate, save, print the bound; whether patience has run out (early stopping)."""
        metrics = self._checkpoint(evaluate=True)
        if metrics is not None:
            write = self.bar.write if self.progress else self.echo  # bar.write prints even when disabled
            write(f"step {self.state.step}: valid -ELBO {metrics['neg_elbo_per_sentence']:.2f} "
                  f"(rec {metrics['rec_per_sentence']:.2f} + KL {metrics['kl_per_sentence']:.2f}) "
                  f"per sentence, active units {metrics['active_units']}")
        patience = self.cfg.patience
        return bool(patience) and self.state.evals_without_improvement >= patience

    def _checkpoint(self, evaluate: bool) -> dict | None:
        """Evaluate (optionally) and save; rank 0 only, the others wait and adopt its state."""
        state, world = self.state, self.world
        if state.step == self.last_saved_step:
            return None
        if not world.is_main:
            self.last_saved_step = state.step
            world.barrier()
            state.evals_without_improvement = int(world.share(state.evals_without_improvement, src=0))
            return None
        try:
            return self._checkpoint_on_main(evaluate)
        finally:
            world.barrier()
            world.share(state.evals_without_improvement, src=0)

    def _checkpoint_on_main(self, evaluate: bool) -> dict | None:
        state, run = self.state, self.run_dir
        state.elapsed_seconds = time.perf_counter() - self.run_started
        release_free_memory()  # the steps' freed pages, before validation and saving add theirs
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise self._diverged("the weights became NaN or infinite", state.step)
        metrics = None
        is_best = False
        if evaluate:
            metrics = evaluate_bound(self.model, self.valid_split, seed=self.cfg.seed)
            if not math.isfinite(metrics["neg_elbo_per_sentence"]):
                raise self._diverged(f"the validation bound became {metrics['neg_elbo_per_sentence']}",
                                     state.step)
            metrics["loss_per_sentence"] = validation_loss(metrics, self.cfg)  # what selects the best
            is_best = metrics["loss_per_sentence"] < state.best_valid_loss - 1e-6
            if is_best:
                state.best_valid_loss = metrics["loss_per_sentence"]
                state.evals_without_improvement = 0
            else:
                state.evals_without_improvement += 1
            run.log({"step": state.step, "epoch": state.epoch, "split": "valid", **metrics,
                     "best": is_best})
        is_best = is_best or not run.best.exists()
        if evaluate:
            release_free_memory()  # and validation's, before the checkpoint's buffers
        run.save(self.model, self.tokenizer, self.cfg, state, self.optimizer, is_best)
        self.last_saved_step = state.step
        return metrics

    def finish(self, wall_seconds: float) -> dict:
        """The run's summary (rank 0): final validation, the test file on the best checkpoint."""
        state, run, echo = self.state, self.run_dir, self.echo
        summary = {"stopped": self.stop_reason, "steps": state.step, "epochs": state.epoch,
                   "out_dir": str(run.dir), "wall_seconds": wall_seconds,
                   "train_tokens_per_s": self.session_tokens / max(self.train_seconds, 1e-9),
                   "train_seconds": self.train_seconds, "bf16": self.bf16, "final_beta": self.beta,
                   "threads": torch.get_num_threads()}
        if self.stop_reason == "interrupted":
            summary["signal"] = self.stop.name
            echo(f"interrupted ({self.stop.name}) at step {state.step}; resumable checkpoint saved "
                 f"in {run.last} (continue with --resume)")
            return summary
        if self.model_cfg.has_latent and self.beta < self.cfg.beta - 1e-6:
            summary["warning"] = (f"training ended at step {state.step} with the KL weight at "
                                  f"{self.beta:.3f}, below its target train.beta = {self.cfg.beta} "
                                  f"({self.cfg.kl_schedule} schedule): the model is not a VAE at "
                                  "beta = 1 yet; train longer or shorten the KL warm-up")
            echo(f"warning: {summary['warning']}")
        # Training is over and its optimizer state is in the last checkpoint: the gradients and
        # AdamW's two moments (three times the weights) leave before the evaluation and the prior fit.
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer.state.clear()
        release_free_memory()
        final = evaluate_bound(self.model, self.valid_split, seed=self.cfg.seed)
        summary.update(best_valid_loss_per_sentence=state.best_valid_loss, last_valid=final)
        latent_dim = self.model_cfg.latent_dim if self.model_cfg.has_latent else 0
        echo(f"done ({self.stop_reason}) after {state.step} steps in {wall_seconds / 60:.1f} min: "
             f"last valid -ELBO {final['neg_elbo_per_sentence']:.2f} per sentence (KL "
             f"{final['kl_per_sentence']:.2f}, {final['active_units']}/{latent_dim} active units); "
             f"best {self._best_description()}; checkpoints in {run.best} and {run.last}")
        best = resolve_checkpoint(run.best)
        load_weights(self.model, best / WEIGHTS_FILE, self.device)  # the model is now the best one
        if "test" in self.splits:  # the best checkpoint on the test file, the same single-sample bound
            test = evaluate_bound(self.model, self.splits["test"], seed=self.cfg.seed)
            test["checkpoint"] = os.path.basename(os.path.realpath(best))
            summary["test"] = test
            run.log({"step": state.step, "split": "test", **test})
            echo(f"test ({test['checkpoint']}): -ELBO {test['neg_elbo_per_sentence']:.2f} per sentence "
                 f"(rec {test['rec_per_sentence']:.2f} + KL {test['kl_per_sentence']:.2f}), "
                 f"{test['neg_elbo_per_token']:.3f} per token incl. <eos>, "
                 f"{test['active_units']}/{latent_dim} active units "
                 "(one posterior sample; `sentvae evaluate` gives the importance-weighted NLL)")
        if self.model_cfg.has_latent and self.cfg.fit_prior:
            summary["prior"] = self._fit_prior()
        summary["peak_rss_mb"] = peak_rss_mb()
        echo(f"peak resident memory: {summary['peak_rss_mb']:,.0f} MB")
        return summary

    def _fit_prior(self) -> dict:
        """Fit the mixture prior to the best model's training codes; save it in the best checkpoint."""
        started = time.perf_counter()
        mixture, report = fit_code_prior(self.model, self.train_split, self.valid_split, seed=self.cfg.seed)
        report["file"] = str(save_prior(self.run_dir.best, mixture))
        report["seconds"] = time.perf_counter() - started
        gain = (report["valid_log_likelihood"][mixture.label]
                - report["valid_log_likelihood_standard_normal"])
        self.echo(f"prior: a mixture of {mixture.components} Gaussians ({mixture.covariance} "
                  "covariances) fitted to the training codes "
                  f"(validation log-likelihood {gain:+.2f} nats per code over N(0, I)); "
                  f"{report['file']}")
        return report

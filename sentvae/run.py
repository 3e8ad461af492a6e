"""The training run directory, and its only owner.

    <out_dir>/
      config.resolved.yaml    the whole config the run used (`--resume` reads it)
      metrics.jsonl           one JSON line per log step, per validation and for the test file
      summary.json            what training measured, written when it ends (benchmarks read it)
      checkpoints/step-N/     checkpoint directories (checkpoint.py) + resume.pt
      last -> checkpoints/step-N     the resume point
      best -> checkpoints/step-M     lowest validation -ELBO at beta = 1

Crash safety: a checkpoint is complete (written to a temporary directory, fsynced, renamed) before
a link moves to it, and each link moves by an atomic rename, so a kill at any moment leaves `last`
and `best` pointing at complete checkpoints. Only checkpoints no link points at are deleted.
Importing this module does not import torch (the CLI prepares the directory before slow imports).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import (CONFIG_FILE, RESUME_FILE, CheckpointWriteError, atomic_write_text,
                         first_line, fsync_directory, write_checkpoint_files)
from .errors import CheckpointError

SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
RESOLVED_CONFIG_FILE = "config.resolved.yaml"


@dataclass
class RunState:
    """Where training is; saved in every checkpoint's resume.pt."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_valid_loss: float = math.inf  # objective.validation_loss of the best checkpoint
    evals_without_improvement: int = 0
    elapsed_seconds: float = 0.0


def point_link(link: Path, target_name: str) -> None:
    """Atomically make `link` a symbolic link to `target_name` (relative to the link's folder)."""
    temporary = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(target_name, temporary)
    os.replace(temporary, link)
    fsync_directory(link.parent)


def prepare_run_dir(directory, resume: bool) -> Path:
    """Create (or check) a training run directory; cheap, so the CLI calls it before slow imports.

    A fresh run refuses a directory that already holds one; a resumed run needs its `last`
    checkpoint. Leftovers of a process killed while saving (temporary directories and links)
    are removed: `last` and `best` never point at them.
    """
    run = Path(directory)
    try:
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"{run}: cannot create the output directory ({exc.strerror})") from None
    if not os.access(run, os.W_OK):
        raise CheckpointError(f"{run}: output directory is not writable")
    if resume and not (run / "last" / CONFIG_FILE).exists():
        raise CheckpointError(f"{run}: nothing to resume (no last checkpoint)")
    if not resume and (run / "last").exists():
        raise CheckpointError(f"{run}: already holds a run; pass --resume to continue it "
                              "or choose another --out")
    for path in (run / "checkpoints").glob(".step-*.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in run.glob(".*.tmp-*"):
        if path.is_symlink() or path.is_file():
            path.unlink()
    return run


def load_resume_state(directory: Path) -> dict:
    """The optimizer/step/RNG state of a training checkpoint, loaded without running code."""
    import pickle
    import warnings

    import torch

    path = directory / RESUME_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: missing (this checkpoint cannot be resumed)")
    try:
        with warnings.catch_warnings():  # e.g. "protocol 4": the error below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # the weights-only unpickler met a global it does not allow
        raise CheckpointError(f"{path}: refused: it holds objects other than tensors and plain "
                              "data (a pickle that could run code); sentvae never unpickles them") from None
    except Exception as exc:  # truncated, not a torch file, ...
        raise CheckpointError(f"{path}: unreadable resume state ({first_line(exc)})") from None
    if not (isinstance(state, dict) and isinstance(state.get("state"), dict)
            and isinstance(state.get("optimizer"), dict)
            and isinstance(state.get("torch_rng"), torch.Tensor)):
        raise CheckpointError(f"{path}: not a sentvae resume state (expected state, optimizer "
                              "and torch_rng)")
    return state


class RunDirectory:
    """A training run directory (see the module docstring): every write to it goes through here."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.checkpoints = self.dir / "checkpoints"

    @property
    def last(self) -> Path:
        return self.dir / "last"

    @property
    def best(self) -> Path:
        return self.dir / "best"

    def prepare(self, fresh: bool) -> None:
        prepare_run_dir(self.dir, resume=not fresh)

    def restore(self) -> tuple[RunState, dict]:
        """The run state and resume payload (optimizer, RNG) of the `last` checkpoint."""
        payload = load_resume_state(self.last)
        saved = dict(payload["state"])
        for old_name in ("best_elbo", "best_neg_elbo"):  # its earlier names, oldest first
            if old_name in saved:
                saved["best_valid_loss"] = saved.pop(old_name)
        try:
            state = RunState(**saved)
        except TypeError as exc:
            raise CheckpointError(f"{self.last / RESUME_FILE}: unexpected run state ({exc})") from None
        return state, payload

    # --- logs -------------------------------------------------------------------------------
    def log(self, record: dict) -> None:
        with (self.dir / METRICS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def rewind_log(self, step: int) -> None:
        """Forget what was logged after `step` (work a crash lost, to be redone on resume),
        and a last line cut short by a kill."""
        path = self.dir / METRICS_FILE
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

    def write_config(self, text: str) -> None:
        atomic_write_text(self.dir / RESOLVED_CONFIG_FILE, text)

    def write_summary(self, summary: dict) -> None:
        atomic_write_text(self.dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")

    # --- checkpoints ------------------------------------------------------------------------
    def save(self, model, tokenizer, train_cfg, state: RunState, optimizer, is_best: bool) -> None:
        """Write checkpoints/step-N atomically, then swap the `last` (and `best`) links."""
        import torch

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
            write_checkpoint_files(temporary, model, tokenizer, train_cfg, resume)
            if final.exists():  # left by a run killed before its link moved: never referenced
                shutil.rmtree(final)
            os.replace(temporary, final)
            fsync_directory(self.checkpoints)
            point_link(self.last, f"checkpoints/{name}")
            if is_best:
                point_link(self.best, f"checkpoints/{name}")
        except (OSError, CheckpointWriteError) as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            reason = exc.strerror if isinstance(exc, OSError) else str(exc).split(": ", 1)[-1]
            raise CheckpointError(f"{final}: could not save checkpoint ({reason}); the previous "
                                  f"checkpoint ({self.last}) is unchanged") from None
        self._remove_unreferenced()

    def _referenced(self) -> set[str]:
        return {os.path.realpath(link) for link in (self.last, self.best) if link.exists()}

    def _remove_unreferenced(self) -> None:
        keep = self._referenced()
        for path in self.checkpoints.iterdir():
            if path.name.startswith("step-") and os.path.realpath(path) not in keep:
                shutil.rmtree(path, ignore_errors=True)

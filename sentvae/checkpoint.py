"""Checkpoint directories, Hugging Face style, written atomically and loaded without pickle.

    <checkpoint>/
      config.json         {"format_version": 1, "model": {...ModelConfig...}}
      model.safetensors   weights (the only place weights are read from)
      tokenizer.json      the whole tokenizer, normalisation included
      train_config.json   how it was trained (informational)
      resume.pt           optimizer / step / RNG state, training runs only (weights_only=True)

A training run directory holds `checkpoints/step-NNNNNNN/` directories and two symbolic links,
`last` and `best`, that are swapped atomically (a kill at any moment leaves a complete
checkpoint behind each link). Anything that takes a MODEL accepts either kind of directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from .config import FORMAT_VERSION, ModelConfig, build, to_dict
from .errors import CheckpointError, ConfigError
from .tokenizer import TextTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TRAIN_CONFIG_FILE = "train_config.json"
RESUME_FILE = "resume.pt"
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pth", ".ckpt")


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_checkpoint_files(directory: Path, model, train_config=None, resume_state=None) -> None:
    """Write the checkpoint files into an existing (temporary) directory."""
    from safetensors.torch import save_model

    if model.tokenizer is None:
        raise ValueError("cannot save a model without its tokenizer")
    config = {"format_version": FORMAT_VERSION, "model": to_dict(model.cfg)}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    save_model(model, str(directory / WEIGHTS_FILE))
    model.tokenizer.save(directory / TOKENIZER_FILE)
    if train_config is not None:
        (directory / TRAIN_CONFIG_FILE).write_text(json.dumps(to_dict(train_config), indent=2) + "\n",
                                                   encoding="utf-8")
    if resume_state is not None:
        torch.save(resume_state, directory / RESUME_FILE)
    _fsync_tree(directory)


def _writable_parent(target: Path) -> Path:
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"{parent}: cannot create directory ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise CheckpointError(f"{parent}: directory is not writable")
    return parent


def save_checkpoint(directory, model, train_config=None) -> None:
    """Save `model` (with its tokenizer) to `directory`, replacing it only once complete."""
    target = Path(directory)
    parent = _writable_parent(target)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    try:
        write_checkpoint_files(temporary, model, train_config)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.replace(target, old / "previous")
            os.replace(temporary, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temporary, target)
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        raise CheckpointError(f"{target}: could not write checkpoint ({exc.strerror or exc}); "
                              "the previous checkpoint, if any, is unchanged") from None


def point_link(link: Path, target_name: str) -> None:
    """Atomically make `link` a symbolic link to `target_name` (relative to the link's folder)."""
    temporary = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(target_name, temporary)
    os.replace(temporary, link)


def resolve_checkpoint(path) -> Path:
    """A checkpoint directory: `path` itself, or a run directory's `best` (else `last`)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    if not path.is_dir():
        raise CheckpointError(f"{path}: expected a checkpoint or run directory, found a file")
    if (path / CONFIG_FILE).exists():
        return path
    for name in ("best", "last"):
        if (path / name / CONFIG_FILE).exists():
            return path / name
    raise CheckpointError(f"{path}: not a checkpoint (no {CONFIG_FILE}) and not a run directory "
                          "(no best/ or last/ checkpoint)")


def read_model_config(directory: Path) -> ModelConfig:
    path = directory / CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable config ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), dict):
        raise CheckpointError(f"{path}: not a sentvae config (no 'model' section)")
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: missing format_version")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version} is newer than this sentvae "
                              f"understands ({FORMAT_VERSION}); upgrade sentvae")
    try:
        cfg = build(ModelConfig, raw["model"], "model")
        cfg.validate()
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return cfg


def load_checkpoint(path, device="cpu"):
    """Rebuild a `SentenceVAE` from a checkpoint or run directory; refuses pickled weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    from .model import SentenceVAE

    directory = resolve_checkpoint(path)
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        hint = f" (found pickle file {pickles[0]}; sentvae never loads pickled weights)" if pickles else ""
        raise CheckpointError(f"{weights}: missing weights file{hint}")
    cfg = read_model_config(directory)
    tokenizer = TextTokenizer.load(directory / TOKENIZER_FILE)
    if tokenizer.vocab_size != cfg.vocab_size:
        raise CheckpointError(f"{directory / TOKENIZER_FILE}: vocabulary of {tokenizer.vocab_size} "
                              f"tokens does not match the weights' {cfg.vocab_size}")
    model = SentenceVAE(cfg, tokenizer)
    try:
        load_model(model, str(weights), strict=True, device=str(device))
    except (SafetensorError, RuntimeError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{weights}: not valid weights for this config ({first})") from None
    model.to(device)
    model.eval()
    return model


def load_resume_state(directory: Path) -> dict:
    """The optimizer/step/RNG state of a training checkpoint, loaded without running code."""
    path = directory / RESUME_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: missing (this checkpoint cannot be resumed)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for payloads that would run code
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: refused to load ({first[:200]})") from None

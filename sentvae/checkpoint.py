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

Untrusted checkpoints cannot run code: weights come only from safetensors (a file that is not
one, such as a pickle, is refused before it is parsed), resume state is read with
`torch.load(weights_only=True)`, and configs are JSON. Problems are `CheckpointError`s naming
the file; the model is only imported (with torch) once the directory has passed its checks.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from .config import FORMAT_VERSION, ModelConfig, TrainConfig, build, to_dict
from .errors import CheckpointError, ConfigError
from .tokenizer import TextTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TRAIN_CONFIG_FILE = "train_config.json"
RESUME_FILE = "resume.pt"
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pth", ".ckpt")


def fsync_directory(directory: Path) -> None:
    """Make the entries of `directory` (a rename into it, a new link) durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_replace(path: Path, write) -> None:
    """Replace `path` by what `write(temporary_path)` writes, in one step (fsynced, renamed)."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: could not be written ({exc.strerror or exc})") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: a kill leaves the old file or the new one."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    fsync_directory(directory)


class CheckpointWriteError(CheckpointError):
    """Writing a checkpoint failed (disk full, permissions); the temporary files are removed."""


def write_checkpoint_files(directory: Path, model, tokenizer: TextTokenizer, train_config=None,
                           resume_state=None) -> None:
    """Write the checkpoint files into an existing (temporary) directory and fsync them.

    Any failure to write (a full disk, a file size limit, permissions) is a
    `CheckpointWriteError` naming the directory, whatever library raised it.
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import save_model

    config = {"format_version": FORMAT_VERSION, "model": to_dict(model.cfg)}
    try:
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        save_model(model, str(directory / WEIGHTS_FILE))
        tokenizer.save(directory / TOKENIZER_FILE)
        if train_config is not None:
            (directory / TRAIN_CONFIG_FILE).write_text(
                json.dumps(to_dict(train_config), indent=2) + "\n", encoding="utf-8")
        if resume_state is not None:  # serialised in memory: a failed write is a plain OSError
            buffer = io.BytesIO()
            torch.save(resume_state, buffer)
            (directory / RESUME_FILE).write_bytes(buffer.getbuffer())  # a view, not a second copy
        _fsync_tree(directory)
    except OSError as exc:
        raise CheckpointWriteError(f"{directory}: {exc.strerror or exc}") from None
    except (SafetensorError, RuntimeError) as exc:  # they wrap the OS error in their own text
        raise CheckpointWriteError(f"{directory}: {first_line(exc)}") from None


def first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def _writable_parent(target: Path) -> Path:
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"{parent}: cannot create directory ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise CheckpointError(f"{parent}: directory is not writable")
    return parent


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`).

    Returns False where the system or file system cannot do it; raises OSError otherwise.
    """
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(second))


def save_checkpoint(directory, model, tokenizer: TextTokenizer, train_config=None) -> None:
    """Save `model` and its tokenizer to `directory`, replacing it only once complete."""
    target = Path(directory)
    parent = _writable_parent(target)
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    except OSError as exc:
        raise CheckpointError(f"{parent}: cannot write there ({exc.strerror})") from None
    try:
        write_checkpoint_files(temporary, model, tokenizer, train_config)
        if not target.exists():
            os.replace(temporary, target)
        elif exchange_paths(temporary, target):  # the old checkpoint is now in `temporary`
            shutil.rmtree(temporary, ignore_errors=True)
        else:  # no atomic exchange here: a short window in which `target` is missing
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.replace(target, old / "previous")
            os.replace(temporary, target)
            shutil.rmtree(old, ignore_errors=True)
        fsync_directory(parent)
    except (OSError, CheckpointWriteError) as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).split(": ", 1)[-1]
        raise CheckpointError(f"{target}: could not write checkpoint ({reason}); "
                              "the previous checkpoint, if any, is unchanged") from None


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
    if "output_layer" not in raw["model"]:  # written before the field existed: the cutoffs say
        raw["model"]["output_layer"] = "adaptive" if raw["model"].get("adaptive_softmax_cutoffs") else "full"
    try:
        cfg = build(ModelConfig, raw["model"], "model")
        cfg.validate()
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return cfg


def read_train_config(directory: Path) -> TrainConfig:
    """How a checkpoint was trained (train_config.json): its corpus files, tokenizer settings, seed."""
    path = directory / TRAIN_CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return build(TrainConfig, raw, "train")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (this checkpoint does not say what it was trained on)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ConfigError) as exc:
        raise CheckpointError(f"{path}: unreadable training config ({exc})") from None


def check_safetensors_file(weights: Path) -> None:
    """Refuse, before any parser sees it, a weights file that is not safetensors (e.g. a pickle).

    A safetensors file starts with an 8-byte little-endian header length and a JSON header.
    """
    try:
        size = weights.stat().st_size
        with weights.open("rb") as handle:
            head = handle.read(9)
    except OSError as exc:
        raise CheckpointError(f"{weights}: cannot be read ({exc.strerror})") from None
    header_length = int.from_bytes(head[:8], "little") if len(head) == 9 else -1
    if 2 <= header_length <= size - 8 and head[8:9] == b"{":
        return
    if head[:1] == b"\x80" or head[:2] == b"PK":
        kind = "a pickle / torch.save file, which could run code when loaded"
    else:
        kind = "truncated or corrupt"
    raise CheckpointError(f"{weights}: not a safetensors file ({kind}); refused: sentvae only "
                          "loads weights from safetensors")


def check_tokenizer_matches(directory: Path, cfg: ModelConfig, tokenizer: TextTokenizer) -> None:
    if tokenizer.vocab_size != cfg.vocab_size:
        raise CheckpointError(f"{directory / TOKENIZER_FILE}: vocabulary of {tokenizer.vocab_size} "
                              f"tokens does not match the weights' {cfg.vocab_size}")


def load_weights(model, weights: Path, device="cpu") -> None:
    """Load `model.safetensors` into `model` (strict); a `CheckpointError` if it does not fit."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    check_safetensors_file(weights)
    try:
        load_model(model, str(weights), strict=True, device=str(device))
    except (SafetensorError, RuntimeError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: not valid weights for this config "
                              f"({first_line(exc)})") from None


def check_checkpoint(path) -> tuple[Path, ModelConfig, TextTokenizer]:
    """Everything about a checkpoint that can be checked without torch: the directory, its
    files, the safetensors header, the config and the tokenizer's vocabulary size.

    Returns (checkpoint directory, model config, tokenizer); raises `CheckpointError`.
    """
    directory = resolve_checkpoint(path)
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        hint = f" (found pickle file {pickles[0]}; sentvae never loads pickled weights)" if pickles else ""
        raise CheckpointError(f"{weights}: missing weights file{hint}")
    check_safetensors_file(weights)
    cfg = read_model_config(directory)
    tokenizer = TextTokenizer.load(directory / TOKENIZER_FILE)
    check_tokenizer_matches(directory, cfg, tokenizer)
    return directory, cfg, tokenizer


def load_checkpoint(path, device="cpu"):
    """(model, tokenizer) of a checkpoint or run directory; refuses pickled weights."""
    directory, cfg, tokenizer = check_checkpoint(path)

    from .model import SentenceVAE  # torch is imported only for a checkpoint that passed

    model = SentenceVAE(cfg)
    load_weights(model, directory / WEIGHTS_FILE, device)
    model.to(device)
    model.eval()
    return model, tokenizer

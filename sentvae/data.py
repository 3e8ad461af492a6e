"""Corpora in, length-bucketed batches out.

Loading goes through Hugging Face `datasets`, so a corpus is an Arrow table on disk
(memory-mapped, cached; a second run starts fast): `.txt` (one sentence per line),
`.jsonl`/`.json`, `.csv`/`.tsv` (a `text_column`), `.parquet`, or a hub dataset name for users
who are online. With no file, the built-in grammar corpus (`sentvae.corpus`) is used.

Every problem with the input is a `DataError` naming the file (and line where it can).
Nothing here imports torch at module level, so bad input is reported before the slow imports.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from .config import TrainConfig
from .errors import DataError
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, TextTokenizer

if TYPE_CHECKING:
    import torch

FORMATS = {".txt": "text", ".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv",
           ".parquet": "parquet"}


# --- reading raw text ------------------------------------------------------------------------

def _scan_lines(path: Path, check_utf8: bool) -> tuple[int | None, bool]:
    """(1-based number of the first line that is not valid UTF-8 or None, any non-blank line?)."""
    has_text = False
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if check_utf8:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number, has_text
            has_text = has_text or bool(raw.strip())
    return None, has_text


def _missing_column(path: Path, column: str, columns) -> DataError:
    return DataError(f"{path}: no column {column!r} (columns: {', '.join(columns) or 'none'}); "
                     "set train.text_column")


def json_records(path: Path, lines: Iterable[str]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank JSON line; a `DataError` naming the line for
    malformed JSON or a value that is not an object."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, found "
                            f"{type(record).__name__}")
        yield number, record


def _check_json_lines(path: Path, encoding_errors: str, column: str | None) -> None:
    """Every non-blank line parses as a JSON object; some object has `column`."""
    first_keys, found = None, column is None
    with path.open(encoding="utf-8", errors=encoding_errors) as handle:
        for _, record in json_records(path, handle):
            first_keys = list(record) if first_keys is None else first_keys
            found = found or column in record
    if not found and first_keys is not None:
        raise _missing_column(path, column, first_keys)


def _check_header(path: Path, encoding_errors: str, column: str | None) -> None:
    """The header row of a CSV/TSV file names `column`."""
    if column is None:
        return
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if path.suffix.lower() == ".tsv" else {}
    with path.open(encoding="utf-8", errors=encoding_errors, newline="") as handle:
        header = next(csv.reader(handle, **options), [])
    if column not in header:
        raise _missing_column(path, column, header)


def check_readable_file(path: str | Path) -> Path:
    """The path as a `Path` if it is a readable file; a `DataError` naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")
    if not path.is_file():  # a pipe or device: opening it could block
        if not os.access(path, os.R_OK):
            raise DataError(f"{path}: cannot be read (Permission denied)")
        return path
    try:  # open it: os.access says yes to root even where reading would fail
        with path.open("rb"):
            pass
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    return path


def read_lines(path: str | Path, encoding_errors: str = "strict") -> list[str]:
    """The non-blank lines of a user's text file, stripped; `DataError` naming file and line.

    `encoding_errors="replace"` turns bytes that are not UTF-8 into U+FFFD instead of failing.
    """
    file = check_readable_file(path)
    data = file.read_bytes()
    try:
        text = data.decode("utf-8", errors=encoding_errors)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{file}:{line}: not valid UTF-8 "
                        "(fix the file or pass --encoding-errors replace)") from None
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise DataError(f"{file}: no non-blank lines")
    return lines


def check_corpus_file(path: str | Path, encoding_errors: str = "strict",
                      text_column: str | None = None) -> Path:
    """Checks that need no `datasets` (and so fail fast, before a large file is converted):
    readable, known type, not empty, UTF-8, JSON lines parse, the text column exists."""
    path = check_readable_file(path)
    if path.suffix.lower() not in FORMATS:
        raise DataError(f"{path}: unknown file type {path.suffix!r} "
                        f"(expected one of {', '.join(sorted(FORMATS))})")
    if path.is_file():  # a pipe or device is left to the reader
        stat = path.stat()
        _check_contents(str(path), stat.st_mtime_ns, stat.st_size, encoding_errors, text_column)
    return path


@functools.lru_cache(maxsize=32)
def _check_contents(name: str, mtime_ns: int, size: int, encoding_errors: str,
                    text_column: str | None) -> None:
    """The content checks of one version of a file (remembered: the CLI checks a file before
    torch is imported, and loading it checks again)."""
    path = Path(name)
    suffix = path.suffix.lower()
    kind = FORMATS[suffix]
    if size == 0:
        raise DataError(f"{path}: the corpus is empty (no non-blank sentences)")
    if kind in ("text", "csv", "json"):
        bad, has_text = _scan_lines(path, check_utf8=encoding_errors == "strict")
        if bad is not None:
            raise DataError(f"{path}:{bad}: not valid UTF-8 "
                            "(fix the file or pass --encoding-errors replace)")
        if not has_text:
            raise DataError(f"{path}: the corpus is empty (no non-blank sentences)")
    if suffix == ".jsonl":
        _check_json_lines(path, encoding_errors, text_column)
    if kind == "csv":
        _check_header(path, encoding_errors, text_column)


def check_input_files(cfg: TrainConfig) -> None:
    """Fail early (before any slow import) on a configured corpus file that cannot be used."""
    for name in ("train_file", "valid_file", "test_file"):
        source = getattr(cfg, name)
        if source is None or (not Path(source).exists() and _looks_like_hub_name(source)):
            continue
        check_corpus_file(source, cfg.encoding_errors, cfg.text_column)


def _quiet_datasets():
    import datasets

    datasets.logging.set_verbosity(logging.ERROR)
    datasets.disable_progress_bars()
    return datasets


def _looks_like_hub_name(name: str) -> bool:
    return "/" in name and not name.startswith((".", "/")) and Path(name).suffix == "" \
        and name.count("/") == 1


def load_text_dataset(source: str, text_column: str = "text", encoding_errors: str = "strict",
                      split: str = "train"):
    """Load a corpus as a `datasets.Dataset` with a string column `text` (blank rows removed).

    Other columns (labels) are kept. Raises `DataError` for anything the user can fix.
    """
    datasets = _quiet_datasets()
    path = Path(source)
    if not path.exists() and _looks_like_hub_name(source):
        try:
            dataset = datasets.load_dataset(source, split=split)
        except Exception as exc:  # network or hub errors
            raise DataError(f"{source}: could not load hub dataset ({str(exc).splitlines()[0]})") from None
    else:
        path = check_corpus_file(path, encoding_errors, text_column)
        kind = FORMATS[path.suffix.lower()]
        options: dict = {}
        if kind in ("text", "json"):
            options["encoding_errors"] = encoding_errors
        if kind == "csv":
            options["encoding_errors"] = encoding_errors
            if path.suffix.lower() == ".tsv":
                options.update(sep="\t", quoting=csv.QUOTE_NONE)
        try:
            dataset = datasets.load_dataset(kind, data_files=str(path), split="train", **options)
        except Exception as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            cause = exc.__cause__ or exc.__context__
            if cause is not None and str(cause):
                message = str(cause).splitlines()[0]
            raise DataError(f"{path}: could not be read ({message})") from None
        source = str(path)
    if text_column not in dataset.column_names:
        raise _missing_column(source, text_column, dataset.column_names)
    if text_column != "text":
        if "text" in dataset.column_names:
            dataset = dataset.remove_columns("text")
        dataset = dataset.rename_column(text_column, "text")
    dataset = dataset.filter(lambda batch: [isinstance(t, str) and bool(t.strip()) for t in batch["text"]],
                             batched=True)
    if len(dataset) == 0:
        raise DataError(f"{source}: the corpus is empty (no non-blank sentences)")
    return dataset


def builtin_datasets(cfg: TrainConfig) -> dict:
    """The built-in grammar corpus as `datasets.Dataset`s with `text` and label columns."""
    from .corpus import splits

    datasets = _quiet_datasets()

    parts = splits(train=cfg.builtin_train_size, valid=cfg.builtin_valid_size or 1,
                   test=cfg.builtin_test_size or 1, seed=cfg.seed)
    result = {}
    for name, sentences in parts.items():
        columns: dict[str, list] = {"text": [s.text for s in sentences]}
        for key in sentences[0].labels:
            columns[key] = [s.labels[key] for s in sentences]
        result[name] = datasets.Dataset.from_dict(columns)
    return result


def load_splits(cfg: TrainConfig) -> dict:
    """train / valid (/ test) datasets as configured: files or built-in.

    Without a validation file, "valid" is None: the validation rows are carved out of the
    tokenised training data (`carve_validation`), so the corpus is tokenised once and no
    `datasets` index mapping slows every later read.
    """
    if cfg.train_file is None:
        return builtin_datasets(cfg)
    common = dict(text_column=cfg.text_column, encoding_errors=cfg.encoding_errors)
    train = load_text_dataset(cfg.train_file, **common)
    valid = None
    if cfg.valid_file is not None:
        valid = load_text_dataset(cfg.valid_file, split="validation", **common)
    elif len(train) < 2:
        raise DataError(f"{cfg.train_file}: too few sentences to carve a validation split")
    result = {"train": train, "valid": valid}
    if cfg.test_file is not None:
        result["test"] = load_text_dataset(cfg.test_file, split="test", **common)
    return result


# --- tokenised splits and batches --------------------------------------------------------------

@dataclass
class EncodedSplit:
    """A tokenised split: every sentence's word ids back to back in one numpy array.

    The ids live in numpy, not in the Arrow table they were read from, so a split can be built in
    one process and used in another (`splits.prepare_splits_apart`) and a batch is a few array
    slices. `dataset` keeps the source table (with its other columns, e.g. labels) where it is
    still at hand; `detached()` drops it.
    """

    ids: np.ndarray  # (words of all table rows,) int32, the rows' word ids back to back (no specials)
    offsets: np.ndarray  # (table rows + 1,) int64: table row r is ids[offsets[r]: offsets[r + 1]]
    lengths: np.ndarray  # (num_sentences,) words per sentence of the split
    dropped: int  # sentences over max_length that were dropped
    truncated: int  # sentences over max_length that were cut
    rows: np.ndarray | None = None  # the split's table rows (None: all, in order)
    dataset: object | None = None  # the source `datasets.Dataset` for `column` (None: detached)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def num_targets(self) -> int:
        """Decoder targets in the split: words + one <eos> per sentence."""
        return int(self.lengths.sum()) + len(self.lengths)

    def batch_ids(self, indices: np.ndarray) -> list[list[int]]:
        """Word ids of the split's sentences at `indices` (positions within the split)."""
        return [self.ids[self.offsets[row]: self.offsets[row + 1]].tolist() for row in self._rows(indices)]

    def column(self, name: str) -> list:
        """The values of a corpus column (e.g. a label), one per sentence of the split."""
        if self.dataset is None:
            raise DataError(f"column {name!r}: this split was detached from its corpus table")
        return self.dataset.select_columns([name])[self._rows(np.arange(len(self))).tolist()][name]

    def subset(self, positions: np.ndarray) -> "EncodedSplit":
        """The sentences at `positions` of this split, sharing its arrays and table."""
        return EncodedSplit(self.ids, self.offsets, self.lengths[positions], 0, 0,
                            rows=self._rows(np.asarray(positions)), dataset=self.dataset)

    def detached(self) -> "EncodedSplit":
        """The same split without its `datasets` table: only numpy arrays, cheap to pickle."""
        return replace(self, dataset=None)

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(indices) if self.rows is None else self.rows[indices]


def encode_split(dataset, tokenizer: TextTokenizer, max_length: int, long_sentences: str = "drop",
                 num_proc: int | None = None) -> EncodedSplit:
    """Tokenise a `text` dataset (cached by `datasets`) and drop or truncate long sentences."""
    _quiet_datasets()

    def tokenize(batch):
        ids = tokenizer.encode_batch(batch["text"])
        over = [len(x) > max_length for x in ids]
        if long_sentences == "truncate":
            ids = [x[:max_length] for x in ids]
        return {"ids": ids, "too_long": over}

    if len(dataset) == 0:
        return EncodedSplit(np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, np.int64), 0, 0,
                            dataset=dataset)
    use_proc = num_proc if num_proc and len(dataset) >= 200_000 else None
    encoded = dataset.map(tokenize, batched=True, batch_size=2000, num_proc=use_proc)
    ids, offsets = _ragged_column(encoded, "ids")
    lengths = np.diff(offsets)  # (table rows,) words per sentence after any truncation
    too_long = numpy_column(encoded, "too_long").astype(bool)
    empty = lengths == 0
    dropped = int(too_long.sum()) if long_sentences == "drop" else 0
    truncated = int(too_long.sum()) if long_sentences == "truncate" else 0
    keep = ~empty & ~too_long if long_sentences == "drop" else ~empty
    if keep.all():
        return EncodedSplit(ids, offsets, lengths, dropped, truncated, dataset=encoded)
    rows = np.flatnonzero(keep)  # kept as an index array, not a `datasets` select
    return EncodedSplit(ids, offsets, lengths[rows], dropped, truncated, rows=rows, dataset=encoded)


def _ragged_column(dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A list-of-ints column as (values (total,) int32, offsets (rows + 1,) int64), read from
    Arrow in bulk."""
    column = dataset.select_columns([name]).with_format("arrow")[:][name].combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.int32)
    return values, offsets - offsets[0]


def carve_validation(num_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train rows, validation rows) of a corpus of `num_rows` sentences."""
    order = np.random.default_rng([seed, 7]).permutation(num_rows)
    size = min(num_rows - 1, max(1, round(num_rows * fraction)))
    return np.sort(order[size:]), np.sort(order[:size])


def numpy_column(dataset, name: str) -> np.ndarray:
    """A scalar column as one numpy array, read from Arrow in bulk (not row by row)."""
    return dataset.select_columns([name]).with_format("arrow")[:][name].to_numpy()


def collate(batch_ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Word-id lists -> tokens (B, T+2) = <bos> w <eos> <pad>..., lengths (B,) = n + 1."""
    import torch

    longest = max(len(ids) for ids in batch_ids)
    tokens = torch.full((len(batch_ids), longest + 2), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        tokens[row, 0] = BOS_ID
        tokens[row, 1: len(ids) + 1] = torch.tensor(ids, dtype=torch.long)
        tokens[row, len(ids) + 1] = EOS_ID
    lengths = torch.tensor([len(ids) + 1 for ids in batch_ids], dtype=torch.long)
    return tokens, lengths


def bucketed_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int,
                     bucket_size: int = 100, rank: int = 0, world_size: int = 1) -> list[np.ndarray]:
    """One epoch of index batches whose members have similar lengths (little padding).

    Shuffle all indices (seeded by seed and epoch), cut them into buckets of `bucket_size`
    batches, sort each bucket by length, cut into batches, shuffle the batches. With several
    ranks, each rank takes every `world_size`-th batch (equal counts for all ranks).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_size
    batches = []
    for start in range(0, len(order), chunk):
        bucket = order[start: start + chunk]
        bucket = bucket[np.argsort(lengths[bucket], kind="stable")]
        batches.extend(bucket[i: i + batch_size] for i in range(0, len(bucket), batch_size))
    batches = [batches[i] for i in rng.permutation(len(batches))]
    if world_size > 1:
        per_rank = len(batches) // world_size
        batches = batches[rank: per_rank * world_size: world_size]
    return batches


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Deterministic batches of similar length for evaluation (every sentence exactly once)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


def iterate(split: EncodedSplit, batches: list[np.ndarray]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (tokens, lengths) for each index batch."""
    for indices in batches:
        yield collate(split.batch_ids(indices))

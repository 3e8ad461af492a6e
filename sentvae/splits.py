"""The data of a training run: the splits it reads, the tokenizer it trains, the sentences it keeps.

`prepare_splits` loads the configured corpora (data.py), holds out a seeded validation share of
the training file when there is no validation file, trains the tokenizer on the training rows
only (unless one is given, as on resume), and encodes every split.

`prepare_splits_apart` does the same in a short-lived child process, which hands back only numpy
arrays and the tokenizer: the training process then never imports `datasets`, `pyarrow` and
`pandas`, whose libraries alone keep about 100 MB resident for the whole run.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .config import ModelConfig, TrainConfig
from .data import EncodedSplit, carve_validation, encode_split, load_splits
from .errors import DataError
from .tokenizer import TextTokenizer


def _texts_except(dataset, skip_rows: np.ndarray | None):
    """The `text` column in order, without the rows in `skip_rows` (streamed in batches)."""
    skip = set() if skip_rows is None else set(skip_rows.tolist())
    position = 0
    for batch in dataset.select_columns(["text"]).iter(batch_size=10000):
        for text in batch["text"]:
            if position not in skip:
                yield text
            position += 1


def prepare_splits(model_cfg: ModelConfig, train_cfg: TrainConfig,
                   tokenizer: TextTokenizer | None = None) -> tuple[TextTokenizer, dict[str, EncodedSplit]]:
    """(tokenizer, {"train", "valid"[, "test"]: EncodedSplit}); a `DataError` for an empty split."""
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


def prepare_splits_apart(model_cfg: ModelConfig, train_cfg: TrainConfig,
                         tokenizer: TextTokenizer | None = None) -> tuple[TextTokenizer, dict[str, EncodedSplit]]:
    """`prepare_splits` in a forked child process; the splits come back detached (numpy only).

    The child imports `datasets` (and with it `pyarrow` and `pandas`) and exits; this process
    keeps only the tokenizer and the id arrays. Errors (a `DataError` naming the file) are raised
    here as the child raised them. Where `fork` does not exist (Windows), it runs in this process.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return prepare_splits(model_cfg, train_cfg, tokenizer)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as child:
        return child.submit(_prepared_and_detached, model_cfg, train_cfg, tokenizer).result()


def _prepared_and_detached(model_cfg: ModelConfig, train_cfg: TrainConfig,
                           tokenizer: TextTokenizer | None) -> tuple[TextTokenizer, dict[str, EncodedSplit]]:
    tokenizer, splits = prepare_splits(model_cfg, train_cfg, tokenizer)
    return tokenizer, {name: split.detached() for name, split in splits.items()}


def long_sentence_notes(splits: dict[str, EncodedSplit], max_length: int) -> list[str]:
    """One line per split that dropped or cut sentences over `max_length` tokens."""
    notes = []
    for name, split in splits.items():
        if split.dropped or split.truncated:
            what = "dropped" if split.dropped else "truncated"
            count = split.dropped or split.truncated
            notes.append(f"{name}: {count} sentence{'s' if count != 1 else ''} over "
                         f"{max_length} tokens {what} (train.long_sentences)")
    return notes

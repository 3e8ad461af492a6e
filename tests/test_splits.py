"""The data of a training run: `prepare_splits`, and the same in a child process."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_configs
from sentvae.errors import DataError
from sentvae.splits import prepare_splits, prepare_splits_apart


def test_a_child_process_prepares_the_same_splits(tmp_path):
    model_cfg, train_cfg = tiny_configs(tmp_path)
    tokenizer, here = prepare_splits(model_cfg, train_cfg)
    child_tokenizer, apart = prepare_splits_apart(model_cfg, train_cfg)
    assert child_tokenizer.hf.get_vocab() == tokenizer.hf.get_vocab()
    assert set(apart) == set(here) == {"train", "valid", "test"}
    for name, split in here.items():
        assert apart[name].dataset is None  # only numpy arrays came back
        assert np.array_equal(apart[name].lengths, split.lengths)
        everything = np.arange(len(split))
        assert apart[name].batch_ids(everything) == split.batch_ids(everything)


def test_a_data_error_in_the_child_is_raised_here(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    model_cfg, train_cfg = tiny_configs(tmp_path / "run", f"train.train_file={empty}")
    with pytest.raises(DataError, match="empty.txt"):
        prepare_splits_apart(model_cfg, train_cfg)


def test_training_never_imports_datasets_into_its_process(tmp_path):
    """`datasets`, `pyarrow` and `pandas` keep ~100 MB resident: a fresh process that trains must
    not have them (the child process that prepared the data had)."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        from conftest import tiny_configs
        from sentvae.train import train
        model_cfg, train_cfg = tiny_configs({str(tmp_path)!r}, "train.max_steps=5")
        train(model_cfg, train_cfg, progress=False, echo=lambda *a, **k: None)
        print(sorted(m for m in ("datasets", "pyarrow", "pandas") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"

"""The command line end to end, in a temporary directory, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY_MODEL, TINY_TRAIN

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_DATASETS_OFFLINE": "1"}


def run(*args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=600)


def test_train_sample_reconstruct_interpolate_from_files(tmp_path):
    from sentvae.corpus import splits

    parts = splits(train=1500, valid=100, test=20, seed=5)
    for name in ("train", "valid"):
        (tmp_path / f"{name}.txt").write_text("\n".join(s.text for s in parts[name]) + "\n")
    overrides = [item for kv in TINY_MODEL + TINY_TRAIN for item in ("--set", kv)]
    trained = run("-m", "sentvae", "train", "--train", "train.txt", "--valid", "valid.txt", "--out", "run",
                  "--set", "train.max_steps=60", "--set", "train.eval_every=30", "--quiet", *overrides,
                  cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "done" in trained.stdout and (tmp_path / "run" / "best" / "model.safetensors").exists()

    sampled = run("-m", "sentvae", "sample", "-m", "run", "-n", "5", "--seed", "1", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert len(sampled.stdout.strip().splitlines()) == 5

    sentence = parts["test"][0].text
    rebuilt = run(str(ROOT / "scripts" / "reconstruct.py"), "-m", "run/last", sentence, "--format", "jsonl",
                  cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    record = json.loads(rebuilt.stdout.strip().splitlines()[0])
    assert record["source"] == sentence and isinstance(record["text"], str) and "logprob" in record

    (tmp_path / "inputs.txt").write_text("\n".join(s.text for s in parts["test"][:5]) + "\n")
    from_file = run("-m", "sentvae", "reconstruct", "-m", "run", "--input", "inputs.txt", cwd=tmp_path)
    assert from_file.returncode == 0, from_file.stderr
    assert "BLEU" in from_file.stdout and "exact match" in from_file.stdout

    path = run("-m", "sentvae", "interpolate", "-m", "run", parts["test"][1].text, parts["test"][2].text,
               "--steps", "4", cwd=tmp_path)
    assert path.returncode == 0, path.stderr
    assert len(path.stdout.strip().splitlines()) == 4


def test_errors_are_one_line_with_status_2(tmp_path):
    result = run("-m", "sentvae", "train", "--train", "missing.txt", "--out", "run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.txt" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("-m", "sentvae", "sample", "-m", "nowhere", cwd=tmp_path)
    assert result.returncode == 2 and "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_subcommands(tmp_path):
    result = run("-m", "sentvae", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("train", "sample", "reconstruct", "interpolate", "demo"):
        assert command in result.stdout

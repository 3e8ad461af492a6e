"""DistributedDataParallel: two gloo processes on the CPU equal one process with the same global batch."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY_MODEL, TINY_TRAIN

# Module dropout draws its masks per process, and free bits act on each process's batch mean,
# so both are off here; word dropout and the reparameterisation noise are drawn per global batch.
# float32 throughout: bf16 autocast (on by default where the CPU has bf16 instructions) rounds
# matrix products of a 16-row and an 8-row batch differently, beyond any useful tolerance.
SETTINGS = TINY_MODEL + TINY_TRAIN + ["train.bf16=false", "model.output_dropout=0.0", "model.embed_dropout=0.0",
                                      "train.free_bits=0.0", "train.max_steps=12", "train.eval_every=6",
                                      "train.builtin_train_size=400", "train.batch_size=16"]


# The encoder-input noise is drawn per global batch too, and the decoder re-initialised at the end
# of autoencoder pretraining is broadcast from rank 0.
DENOISING = ["model.encoder_word_drop=0.2", "model.encoder_word_mask=0.1", "model.encoder_shuffle=2",
             "train.autoencoder_steps=6"]


def _train(out, nproc: int, extra: list[str] = ()):
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "sentvae", "train", "--out", str(out), "--quiet", "--nproc", str(nproc)]
    for item in [*SETTINGS, *extra]:
        command += ["--set", item]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


# The last cluster holds the 10 rarest words of the 345: on most steps one process's 8 rows have none
# of them, and its cluster must still join the gradient all-reduce.
ADAPTIVE = ["model.tie_embeddings=false", "model.adaptive_softmax_cutoffs=[40,335]"]


@pytest.mark.parametrize("extra", [[], DENOISING, ADAPTIVE],
                         ids=["plain", "denoising-autoencoder-pretraining", "adaptive-softmax"])
def test_two_processes_match_one_process(tmp_path, extra):
    single = _train(tmp_path / "one", 1, extra)
    double = _train(tmp_path / "two", 2, extra)
    assert "distributed: 2 processes" in double.stdout
    assert "distributed" not in single.stdout
    a = load_file(str(tmp_path / "one" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-4, rtol=1e-4), name
    # Only rank 0 wrote: one log, checkpoints written once per evaluation.
    logs = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert sum('"split": "valid"' in line for line in logs) == 2


def test_auto_threads_share_the_cores_this_process_may_use_among_the_local_processes(monkeypatch):
    from sentvae import distributed

    monkeypatch.setattr(distributed.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert distributed.threads_per_process(0) == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.threads_per_process(0) == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert distributed.threads_per_process(0) == 1  # never 0
    assert distributed.threads_per_process(3) == 3  # an explicit count wins

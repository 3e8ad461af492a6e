"""Large corpora stream from the `datasets` Arrow cache: 2 million sentences, 200 steps, < 2 GB."""

import os
import resource
import subprocess
import sys

import numpy as np

SENTENCES = 2_000_000


def write_corpus(path, count: int, seed: int = 0) -> None:
    """`count` random sentences of 3-20 words from a 5,000-word vocabulary, written in chunks."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(5000)])
    with open(path, "w", encoding="utf-8") as handle:
        for start in range(0, count, 100_000):
            lengths = rng.integers(3, 21, size=min(100_000, count - start))
            tokens = words[rng.zipf(1.3, size=int(lengths.sum())) % 5000]
            cuts = np.cumsum(lengths)[:-1]
            handle.write("\n".join(" ".join(s) for s in np.split(tokens, cuts)) + "\n")


def test_two_million_sentences_train_in_under_2_gb(tmp_path):
    corpus = tmp_path / "big.txt"
    write_corpus(corpus, SENTENCES)
    cache = tmp_path / "hf-cache"
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "TOKENIZERS_PARALLELISM": "true"}
    command = [sys.executable, "-m", "sentvae", "train", "--train", str(corpus), "--out", str(tmp_path / "run"),
               "--quiet", "--threads", "1",
               "--set", "train.max_steps=200", "--set", "train.eval_every=200", "--set", "train.valid_fraction=0.001",
               "--set", "model.embed_dim=32", "--set", "model.encoder_hidden_dim=32",
               "--set", "model.decoder_hidden_dim=32", "--set", "model.latent_dim=8",
               "--set", "train.vocab_size=5004"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2,0" in result.stdout or "1,99" in result.stdout  # the sentence count is reported
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # largest child process
    assert peak_kib < 2 * 1024 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    shards = list(cache.rglob("cache-*_0000[01]_of_00002.arrow"))
    assert len(shards) >= 2, "tokenisation should run in two processes (one Arrow shard each)"
    assert (tmp_path / "run" / "last" / "model.safetensors").exists()

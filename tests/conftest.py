"""Shared fixtures: one thread, quiet `datasets`, and a tiny VAE trained once per session."""

from __future__ import annotations

import itertools
import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_MODEL = ["model.embed_dim=32", "model.encoder_hidden_dim=32", "model.decoder_hidden_dim=64",
              "model.latent_dim=8", "model.output_dropout=0.0", "model.word_dropout=0.2"]
TINY_TRAIN = ["train.builtin_train_size=3000", "train.builtin_valid_size=200",
              "train.builtin_test_size=200", "train.batch_size=32", "train.lr=0.003",
              "train.warmup_steps=20", "train.kl_warmup_steps=200", "train.eval_every=100",
              "train.log_every=20", "train.threads=1", "train.free_bits=0.25"]


def tiny_configs(out_dir, *extra: str):
    """ModelConfig and TrainConfig of a tiny model on the built-in corpus, writing to `out_dir`."""
    from sentvae.config import load_config

    return load_config(None, TINY_MODEL + TINY_TRAIN + [f"train.out_dir={out_dir}", *extra])


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(run directory, the summary `train()` returned) of a tiny VAE trained for 300 steps on the
    built-in corpus (~20 s)."""
    from sentvae.train import train

    out = tmp_path_factory.mktemp("tiny-run")
    model_cfg, train_cfg = tiny_configs(out, "train.max_steps=300")
    summary = train(model_cfg, train_cfg, progress=False, echo=lambda *a, **k: None)
    return out, summary


@pytest.fixture(scope="session")
def trained_run(trained):
    """The run directory of `trained`."""
    return trained[0]


@pytest.fixture(scope="session")
def trained_summary(trained):
    """The summary `train()` returned for `trained_run`."""
    return trained[1]


@pytest.fixture(scope="session")
def trained_vae(trained_run):
    """The best checkpoint of `trained_run` as a `VAEPipeline`, loaded on the CPU in eval mode
    (`trained_vae.model` is the tensor model)."""
    from sentvae.pipeline import VAEPipeline

    return VAEPipeline.from_pretrained(trained_run)


@pytest.fixture(scope="session")
def trained_lm(tmp_path_factory):
    """The run directory of a tiny language model trained 60 steps on the built-in corpus that
    `trained` was trained on (the same sentences, so the same word vocabulary): what
    `--fusion-lm` fuses into decoding."""
    from sentvae.train import train

    out = tmp_path_factory.mktemp("tiny-lm")
    model_cfg, train_cfg = tiny_configs(out, "train.max_steps=60", "model.use_latent=false",
                                        "model.word_dropout=0.0")
    train(model_cfg, train_cfg, progress=False, echo=lambda *a, **k: None)
    return out


# --- a toy model small enough to search exhaustively (test_decoding, test_fusion) ----------------

class IdTokenizer:
    """Texts are the ids themselves: enough for `decode` on a model without a trained tokenizer."""

    def decode(self, ids):
        return " ".join(str(i) for i in ids)


def toy_words() -> tuple[int, ...]:
    """Everything a toy sentence can contain (<unk> is a word here)."""
    from sentvae.tokenizer import UNK_ID

    return (UNK_ID, 4, 5, 6)


def build_toy_model(latent_dim: int = 4, seed: int = 0):
    """A random 7-token model with max_length 3 (85 possible sentences, all enumerable): a VAE,
    or with latent_dim 0 a language model."""
    from sentvae.config import ModelConfig
    from sentvae.model import SentenceVAE

    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=7, embed_dim=8, encoder_hidden_dim=8, decoder_hidden_dim=16,
                      latent_dim=latent_dim, word_dropout=0.0, output_dropout=0.0, max_length=3)
    model = SentenceVAE(cfg).eval()
    with torch.no_grad():
        model.decoder.output.weight.mul_(4.0)  # sharper, less tie-prone distributions
    return model


def all_toy_sentences(no_repeat: bool = False) -> list[list[int]]:
    sentences = [list(s) for n in range(4) for s in itertools.product(toy_words(), repeat=n)]
    return [s for s in sentences if not no_repeat or len(set(s)) == len(s)]

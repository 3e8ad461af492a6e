"""Checkpoints: save_pretrained -> from_pretrained gives identical logits; run dirs resolve."""

import json

import pytest
import torch

from sentvae.checkpoint import resolve_checkpoint
from sentvae.data import collate
from sentvae.errors import CheckpointError
from sentvae.model import SentenceVAE


def test_round_trip_gives_identical_logits(trained_model, tmp_path):
    trained_model.save_pretrained(tmp_path / "ckpt")
    again = SentenceVAE.from_pretrained(tmp_path / "ckpt")
    assert again.cfg == trained_model.cfg
    assert again.tokenizer.hf.to_str() == trained_model.tokenizer.hf.to_str()
    tokens, lengths = collate([trained_model.tokenizer.encode("the dog sees a cat ."), [5, 6, 7]])
    z = torch.randn(2, trained_model.cfg.latent_dim)
    with torch.no_grad():
        a = trained_model.decoder(tokens[:, :-1], lengths, z)
        b = again.decoder(tokens[:, :-1], lengths, z)
        assert torch.equal(a, b)
        assert torch.equal(trained_model(tokens, lengths).nll, again(tokens, lengths).nll)


def test_saving_over_an_existing_checkpoint_replaces_it(trained_model, tmp_path):
    trained_model.save_pretrained(tmp_path / "ckpt")
    trained_model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors",
                                                                     "tokenizer.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"], "no temporary directories left behind"


def test_run_directory_resolves_to_best(trained_run):
    assert resolve_checkpoint(trained_run) == trained_run / "best"
    config = json.loads((trained_run / "best" / "config.json").read_text())
    assert config["format_version"] == 1 and config["model"]["vocab_size"] > 4


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        SentenceVAE.from_pretrained(tmp_path)

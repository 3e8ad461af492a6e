"""Checkpoints: save_pretrained -> from_pretrained gives identical logits; run dirs resolve."""

import json

import pytest
import torch

from sentvae.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from sentvae.data import collate
from sentvae.errors import CheckpointError
from sentvae.pipeline import VAEPipeline


def test_round_trip_gives_identical_logits(trained_vae, tmp_path):
    trained_vae.save_pretrained(tmp_path / "ckpt")
    again = VAEPipeline.from_pretrained(tmp_path / "ckpt")
    assert again.cfg == trained_vae.cfg
    assert again.tokenizer.hf.to_str() == trained_vae.tokenizer.hf.to_str()
    assert trained_vae.prior is not None  # training fitted one (train.fit_prior)
    assert again.prior.label == trained_vae.prior.label
    spread = "log_vars" if trained_vae.prior.covariance == "diagonal" else "scale_tril"
    for name in ("log_weights", "means", spread):
        assert torch.equal(getattr(again.prior, name), getattr(trained_vae.prior, name)), name
    tokens, lengths = collate([trained_vae.tokenizer.encode("the dog sees a cat ."), [5, 6, 7]])
    z = torch.randn(2, trained_vae.cfg.latent_dim)
    with torch.no_grad():
        a = trained_vae.model.decoder(tokens[:, :-1], lengths, z)
        b = again.model.decoder(tokens[:, :-1], lengths, z)
        assert torch.equal(a, b)
        assert torch.equal(trained_vae.model(tokens, lengths).rec, again.model(tokens, lengths).rec)


def test_checkpoint_functions_round_trip_the_model_and_its_tokenizer(trained_vae, tmp_path):
    save_checkpoint(tmp_path / "ckpt", trained_vae.model, trained_vae.tokenizer)
    model, tokenizer = load_checkpoint(tmp_path / "ckpt")
    assert model.cfg == trained_vae.cfg and not model.training
    assert tokenizer.hf.to_str() == trained_vae.tokenizer.hf.to_str()
    for name, value in trained_vae.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_saving_over_an_existing_checkpoint_replaces_it(trained_vae, tmp_path):
    trained_vae.save_pretrained(tmp_path / "ckpt")
    trained_vae.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors",
                                                                     "prior.safetensors", "tokenizer.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"], "no temporary directories left behind"
    # without a fitted prior: the three files, and no prior left over from the checkpoint replaced
    VAEPipeline(trained_vae.model, trained_vae.tokenizer).save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors",
                                                                     "tokenizer.json"]
    assert VAEPipeline.from_pretrained(tmp_path / "ckpt").prior is None
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_run_directory_resolves_to_best(trained_run):
    assert resolve_checkpoint(trained_run) == trained_run / "best"
    config = json.loads((trained_run / "best" / "config.json").read_text())
    assert config["format_version"] == 1 and config["model"]["vocab_size"] > 4


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        VAEPipeline.from_pretrained(tmp_path)


def test_a_model_with_shared_embeddings_round_trips_and_still_shares(tmp_path):
    from sentvae.config import ModelConfig
    from sentvae.model import SentenceVAE
    from sentvae.tokenizer import TextTokenizer

    tokenizer = TextTokenizer.train(["a b c .", "b c d ."], kind="word")
    cfg = ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=8, encoder_hidden_dim=8,
                      decoder_hidden_dim=8, latent_dim=4, share_embeddings=True)
    model = SentenceVAE(cfg).eval()
    save_checkpoint(tmp_path / "ckpt", model, tokenizer)
    loaded, _ = load_checkpoint(tmp_path / "ckpt")
    assert loaded.cfg.share_embeddings
    assert loaded.encoder.embedding.weight is loaded.decoder.embedding.weight
    torch.testing.assert_close(loaded.decoder.embedding.weight, model.decoder.embedding.weight)

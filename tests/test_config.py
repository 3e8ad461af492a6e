"""Config: YAML files map one to one onto the dataclasses; bad keys and types are named."""

from pathlib import Path

import pytest

from sentvae.config import ModelConfig, TrainConfig, load_config
from sentvae.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def test_there_are_configs():
    assert {p.name for p in CONFIGS} >= {"demo.yaml", "ptb.yaml", "yelp.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads(path):
    model_cfg, train_cfg = load_config(path)
    assert isinstance(model_cfg, ModelConfig) and isinstance(train_cfg, TrainConfig)


def test_defaults_without_file():
    model_cfg, train_cfg = load_config(None)
    assert model_cfg == ModelConfig() and train_cfg == TrainConfig()


def test_overrides_bare_and_dotted_keys():
    model_cfg, train_cfg = load_config(None, ["latent_dim=7", "train.lr=0.01", "bidirectional=false",
                                              "train.train_file=null"])
    assert model_cfg.latent_dim == 7 and train_cfg.lr == 0.01 and model_cfg.bidirectional is False
    assert train_cfg.train_file is None


def test_int_is_accepted_for_float():
    _, train_cfg = load_config(None, ["train.lr=1"])
    assert train_cfg.lr == 1.0 and isinstance(train_cfg.lr, float)


@pytest.mark.parametrize("override, named", [
    ("model.latnet_dim=3", "model.latnet_dim"),
    ("nonsense=3", "nonsense"),
    ("model.latent_dim=abc", "model.latent_dim"),
    ("train.batch_size=2.5", "train.batch_size"),
    ("model.bidirectional=3", "model.bidirectional"),
    ("model.latent_dim=-1", "model.latent_dim"),
    ("train.kl_schedule=sigmoid", "train.kl_schedule"),
])
def test_bad_override_names_the_key(override, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(None, [override])


def test_unknown_key_in_file_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  latent_dim: 4\n  hiden_dim: 3\n")
    with pytest.raises(ConfigError, match=r"model\.hiden_dim"):
        load_config(path)


def test_unknown_section_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 3\n")
    with pytest.raises(ConfigError, match="optim"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_tied_embeddings_need_matching_sizes():
    with pytest.raises(ConfigError, match="tie_embeddings"):
        load_config(None, ["tie_embeddings=true", "embed_dim=10", "decoder_hidden_dim=20"])


def test_adaptive_softmax_cutoffs_are_a_list_checked_by_name():
    model_cfg, _ = load_config(None, ["adaptive_softmax_cutoffs=[2000, 6000]"])
    assert model_cfg.adaptive_softmax_cutoffs == [2000, 6000]
    with pytest.raises(ConfigError, match=r"adaptive_softmax_cutoffs.*list"):
        load_config(None, ["adaptive_softmax_cutoffs=2000"])
    with pytest.raises(ConfigError, match=r"adaptive_softmax_cutoffs\[1\]"):
        load_config(None, ["adaptive_softmax_cutoffs=[2000, many]"])
    with pytest.raises(ConfigError, match="increasing"):
        load_config(None, ["adaptive_softmax_cutoffs=[6000, 2000]"])
    with pytest.raises(ConfigError, match="exclude each other"):
        load_config(None, ["adaptive_softmax_cutoffs=[100]", "tie_embeddings=true", "embed_dim=256"])
    with pytest.raises(ConfigError, match="no dimensions"):
        load_config(None, ["adaptive_softmax_cutoffs=[10, 20]", "decoder_hidden_dim=14"])
    model_cfg.vocab_size = 5000
    with pytest.raises(ConfigError, match=r"largest cutoff \(6000\).*vocabulary size \(5000\)"):
        model_cfg.validate()

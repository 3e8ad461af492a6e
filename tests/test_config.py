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
    ("model.encoder_shuffle=-1", "model.encoder_shuffle"),
    ("model.encoder_word_drop=1.5", "model.encoder_word_drop"),
    ("model.encoder_word_mask=-0.1", "model.encoder_word_mask"),
    ("train.autoencoder_steps=-5", "train.autoencoder_steps"),
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
    with pytest.raises(ConfigError, match="no dimensions"):
        load_config(None, ["adaptive_softmax_cutoffs=[10, 20]", "decoder_hidden_dim=14"])
    # tied: every word is scored by its full-size embedding row, so div does not shrink anything
    tied, _ = load_config(None, ["adaptive_softmax_cutoffs=[10, 20]", "decoder_hidden_dim=14",
                                 "embed_dim=14", "tie_embeddings=true"])
    assert tied.tie_embeddings and tied.adaptive_softmax_cutoffs == [10, 20]
    model_cfg.vocab_size = 5000
    with pytest.raises(ConfigError, match=r"largest cutoff \(6000\).*vocabulary size \(5000\)"):
        model_cfg.validate()


def _shared_fields() -> set[str]:
    import dataclasses

    return ({f.name for f in dataclasses.fields(ModelConfig)}
            & {f.name for f in dataclasses.fields(TrainConfig)})


def test_vocab_size_is_in_both_sections():
    # The rule below is general; this pins the one shared field there is today.
    assert "vocab_size" in _shared_fields()


@pytest.mark.parametrize("name", sorted(_shared_fields()))
def test_bare_key_in_both_sections_is_ambiguous(name):
    with pytest.raises(ConfigError, match=rf"{name} is ambiguous.*model\.{name}.*train\.{name}"):
        load_config(None, [f"{name}=123"])


def test_train_vocab_size_override_sets_the_tokenizer_cap():
    model_cfg, train_cfg = load_config(None, ["train.vocab_size=5004"])
    assert train_cfg.vocab_size == 5004 and model_cfg.vocab_size == 0


def test_model_vocab_size_override_is_refused():
    # model.vocab_size always comes from the trained tokenizer: --set could only be overwritten.
    with pytest.raises(ConfigError, match=r"model\.vocab_size.*tokenizer.*train\.vocab_size"):
        load_config(None, ["model.vocab_size=5000"])


def test_model_vocab_size_in_a_file_is_still_read(tmp_path):
    # A run's config.resolved.yaml (read by `sentvae train --resume`) carries model.vocab_size.
    path = tmp_path / "config.resolved.yaml"
    path.write_text("model:\n  vocab_size: 123\n  latent_dim: 4\ntrain:\n  vocab_size: 500\n")
    model_cfg, train_cfg = load_config(path)
    assert model_cfg.vocab_size == 123 and train_cfg.vocab_size == 500


def test_checkpoint_config_builds_with_vocab_size():
    from sentvae.config import build

    assert build(ModelConfig, {"vocab_size": 42}, "model").vocab_size == 42


def test_ambiguity_rule_is_general(monkeypatch):
    # Any field present in two sections is refused bare, not just today's vocab_size.
    import dataclasses

    import sentvae.config as config

    @dataclasses.dataclass
    class A:
        shared: int = 0
        only_a: int = 0

    @dataclasses.dataclass
    class B:
        shared: int = 0

    monkeypatch.setattr(config, "SECTIONS", {"a": A, "b": B})
    raw = {"a": {}, "b": {}}
    with pytest.raises(ConfigError, match=r"shared is ambiguous.*a\.shared or b\.shared"):
        config.apply_overrides(raw, ["shared=1"])
    config.apply_overrides(raw, ["only_a=2", "b.shared=3"])
    assert raw == {"a": {"only_a": 2}, "b": {"shared": 3}}


# --- shipped configs: package data in a wheel, configs/ in a checkout ---------------------------

def test_shipped_configs_are_the_repository_files():
    from sentvae.config import shipped_configs

    shipped = shipped_configs()
    assert set(shipped) == {p.stem for p in CONFIGS}
    for path in CONFIGS:
        assert shipped[path.stem].read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", ["demo", "demo.yaml"])
def test_a_shipped_config_by_name_from_anywhere(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the checkout: no configs/ here
    assert load_config(name) == load_config(CONFIGS[0].parent / "demo.yaml")


def test_repository_path_still_works(monkeypatch):
    monkeypatch.chdir(CONFIGS[0].parent.parent)
    assert load_config("configs/ptb.yaml") == load_config("ptb")


def test_an_existing_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("demo.yaml").write_text("model:\n  latent_dim: 3\n")
    model_cfg, _ = load_config("demo.yaml")
    assert model_cfg.latent_dim == 3


@pytest.mark.parametrize("name", ["demoo", "configs/nothing.yaml"])
def test_unknown_config_lists_the_shipped_names(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"not found.*demo, demo_beta1, demo_long, ptb, yelp, yelp_rate"):
        load_config(name)


def test_demo_defaults_to_the_shipped_config(tmp_path, monkeypatch):
    from sentvae.cli import build_parser

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["demo"])
    assert load_config(args.config) == load_config(CONFIGS[0].parent / "demo.yaml")


def test_pyproject_ships_every_config_as_package_data():
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = CONFIGS[0].parent.parent
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "sentvae.configs" in setuptools["packages"]
    assert setuptools["package-dir"]["sentvae.configs"] == "configs"
    patterns = setuptools["package-data"]["sentvae.configs"]
    assert all(any(fnmatch.fnmatch(p.name, pat) for pat in patterns) for p in CONFIGS)


def test_an_installed_wheel_reads_its_package_data(tmp_path, monkeypatch):
    # A wheel has sentvae/configs/*.yaml beside the modules (and no configs/ above them).
    import sentvae.config as config

    package = tmp_path / "site-packages" / "sentvae"
    (package / "configs").mkdir(parents=True)
    (package / "configs" / "tiny.yaml").write_text("model:\n  latent_dim: 5\n")
    monkeypatch.setattr(config.importlib.resources, "files", lambda name: package)
    monkeypatch.chdir(tmp_path)
    assert config.shipped_config_dir() == package / "configs"
    assert load_config("tiny")[0].latent_dim == 5
    with pytest.raises(ConfigError, match=r"nor a shipped config: tiny\)"):
        load_config("demo")


@pytest.mark.parametrize("overrides, kind, vocab, built, cutoffs", [
    ([], "word", 10_004, "adaptive", [2000, 6000]),  # a large word vocabulary: the adaptive softmax
    ([], "word", 7_999, "full", []),  # a small one gains little
    ([], "bpe", 10_004, "full", []),  # BPE ids are not ordered by frequency
    (["tie_embeddings=true", "embed_dim=256"], "word", 10_004, "full", []),  # auto keeps tied ones full
    (["tie_embeddings=true", "embed_dim=256", "output_layer=adaptive"], "word", 10_004, "adaptive",
     [2000, 6000]),  # asked for: the tied adaptive softmax
    (["output_layer=full"], "word", 10_004, "full", []),
    (["output_layer=adaptive"], "bpe", 3_000, "adaptive", [2000]),  # asked for: built
    (["output_layer=adaptive"], "word", 1_000, "adaptive", [250]),  # no default cutoff below 1,000
    (["adaptive_softmax_cutoffs=[100, 400]"], "word", 10_004, "adaptive", [100, 400]),  # as given
])
def test_the_output_layer_is_resolved_once_the_vocabulary_is_known(overrides, kind, vocab, built, cutoffs):
    from sentvae.config import resolve_output_layer

    model_cfg, _ = load_config(None, overrides)
    model_cfg.vocab_size = vocab
    resolve_output_layer(model_cfg, kind)
    model_cfg.validate()
    assert (model_cfg.output_layer, model_cfg.adaptive_softmax_cutoffs) == (built, cutoffs)
    resolve_output_layer(model_cfg, kind)  # resolving again (a resumed run) changes nothing
    assert (model_cfg.output_layer, model_cfg.adaptive_softmax_cutoffs) == (built, cutoffs)


def test_contradictory_output_layers_are_refused_by_name():
    with pytest.raises(ConfigError, match="model.output_layer must be one of auto, full, adaptive"):
        load_config(None, ["output_layer=hierarchical"])
    with pytest.raises(ConfigError, match="output_layer full and model.adaptive_softmax_cutoffs"):
        load_config(None, ["output_layer=full", "adaptive_softmax_cutoffs=[100]"])


def test_the_ptb_config_ties_its_embeddings_under_the_tied_adaptive_softmax():
    # The tied adaptive softmax, with more regularisation, gave the best PTB benchmark (configs/ptb.yaml's
    # comment); tied with "auto" it would be the full softmax, untied the adaptive one.
    from sentvae.config import resolve_output_layer

    model_cfg, train_cfg = load_config(Path(__file__).resolve().parent.parent / "configs" / "ptb.yaml")
    model_cfg.vocab_size = 10_000
    resolve_output_layer(model_cfg, train_cfg.tokenizer)
    assert model_cfg.tie_embeddings and model_cfg.output_layer == "adaptive"
    assert model_cfg.adaptive_softmax_cutoffs == [2000, 6000]
    assert (train_cfg.weight_decay, model_cfg.output_dropout) == (0.2, 0.4)
    auto, _ = load_config(Path(__file__).resolve().parent.parent / "configs" / "ptb.yaml", ["model.output_layer=auto"])
    auto.vocab_size = 10_000
    resolve_output_layer(auto, train_cfg.tokenizer)
    assert auto.output_layer == "full"
    untied, _ = load_config(Path(__file__).resolve().parent.parent / "configs" / "ptb.yaml",
                            ["model.tie_embeddings=false"])
    untied.vocab_size = 10_000
    resolve_output_layer(untied, train_cfg.tokenizer)
    assert untied.output_layer == "adaptive" and untied.adaptive_softmax_cutoffs == [2000, 6000]

"""The bound on oneDNN's and ideep's kernel caches: set when absent, the user's value kept, 0 = off."""

import os

import pytest

from sentvae.config import ConfigError, TrainConfig
from sentvae.kernel_cache import CACHE_VARIABLES, bound_kernel_caches


@pytest.fixture
def clean_environment(monkeypatch):
    for name in CACHE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_both_caches_are_bounded_when_the_environment_is_silent(clean_environment):
    assert bound_kernel_caches(64) == {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64", "LRU_CACHE_CAPACITY": "64"}
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == os.environ["LRU_CACHE_CAPACITY"] == "64"


def test_a_value_the_user_set_is_kept(clean_environment):
    clean_environment.setenv("LRU_CACHE_CAPACITY", "7")
    assert bound_kernel_caches(64) == {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64", "LRU_CACHE_CAPACITY": "7"}


def test_zero_leaves_the_environment_alone(clean_environment):
    assert bound_kernel_caches(0) == {}
    assert not any(name in os.environ for name in CACHE_VARIABLES)


def test_the_setting_is_a_train_config_key_with_a_default_of_64():
    assert TrainConfig().kernel_cache == 64
    with pytest.raises(ConfigError, match="train.kernel_cache must be >= 0"):
        TrainConfig(kernel_cache=-1).validate()


def test_training_bounds_the_caches_before_it_computes(clean_environment, tmp_path):
    from conftest import tiny_configs
    from sentvae.train import train

    model_cfg, train_cfg = tiny_configs(tmp_path, "train.max_steps=2", "train.kernel_cache=32",
                                        "train.builtin_train_size=200")
    train(model_cfg, train_cfg, progress=False, echo=lambda *a, **k: None)
    assert all(os.environ[name] == "32" for name in CACHE_VARIABLES)

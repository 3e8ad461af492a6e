"""sentvae: sentence-level variational autoencoders for text (GRU encoder and decoder).

    from sentvae import VAEPipeline
    vae = VAEPipeline.from_pretrained("runs/demo")
    vae.sample(5)

Importing the package does no work; heavy modules load when first used.
"""

from .errors import ArgumentError, CheckpointError, ConfigError, DataError, SentvaeError

__version__ = "0.1.0"

__all__ = ["VAEPipeline", "SentenceVAE", "DecodingOptions", "TextTokenizer", "ModelConfig", "TrainConfig", "load_config",
           "SentvaeError", "ConfigError", "DataError", "CheckpointError", "ArgumentError"]


_LAZY = {"VAEPipeline": "pipeline", "SentenceVAE": "model", "DecodingOptions": "decoding", "TextTokenizer": "tokenizer", "ModelConfig": "config",
         "TrainConfig": "config", "load_config": "config"}


def __getattr__(name):
    """Load torch-heavy modules on first use, so `import sentvae` is instant."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sentvae' has no attribute {name!r}")

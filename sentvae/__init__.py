"""sentvae: sentence-level variational autoencoders for text (GRU encoder and decoder).

    from sentvae import SentenceVAE
    model = SentenceVAE.from_pretrained("runs/demo")
    model.sample(5)

Importing the package does no work; heavy modules load when first used.
"""

from .config import ModelConfig, TrainConfig, load_config
from .errors import ArgumentError, CheckpointError, ConfigError, DataError, SentvaeError
from .model import SentenceVAE
from .tokenizer import TextTokenizer

__version__ = "0.1.0"

__all__ = ["SentenceVAE", "TextTokenizer", "ModelConfig", "TrainConfig", "load_config",
           "SentvaeError", "ConfigError", "DataError", "CheckpointError", "ArgumentError"]


"""Configuration: `ModelConfig` (what rebuilds the model) and `TrainConfig` (how it is trained).

A YAML file has two sections whose keys map one to one onto the dataclass fields:

    model:
      latent_dim: 32
    train:
      batch_size: 64

`--set key=value` overrides a field from the command line; `key` is either a bare field name
or `model.key` / `train.key`. A bare name must belong to one section only: one in both (such as
`vocab_size`) is refused as ambiguous. Unknown keys and values of the wrong type are
`ConfigError`s that name the key.

`model.vocab_size` is always the trained tokenizer's vocabulary size: `--set model.vocab_size=N`
is refused (`train.vocab_size` caps the vocabulary the tokenizer learns). A YAML file may carry it
(a run's `config.resolved.yaml`, read by `sentvae train --resume`, does), but training replaces it
with the tokenizer's size; a checkpoint's `config.json` carries it too and is read with `build`.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

# Bumped when the checkpoint layout or the meaning of a ModelConfig field changes.
FORMAT_VERSION = 1


OUTPUT_LAYERS = ("auto", "full", "adaptive")
DEFAULT_ADAPTIVE_CUTOFFS = (2000, 6000)  # head: the 2,000 most frequent ids; then 2,000-6,000; the rest
AUTO_ADAPTIVE_MIN_VOCAB = 8000


@dataclass
class ModelConfig:
    """Everything needed to rebuild a `SentenceVAE` (saved as `config.json` in a checkpoint)."""

    vocab_size: int = 0  # always taken from the trained tokenizer
    embed_dim: int = 256  # token embedding size (encoder and decoder each have one)
    encoder_hidden_dim: int = 256  # GRU hidden size per direction
    encoder_layers: int = 1
    bidirectional: bool = True
    decoder_hidden_dim: int = 256
    decoder_layers: int = 1
    latent_dim: int = 32  # 0 (or use_latent: false) turns the model into a GRU language model
    use_latent: bool = True
    latent_every_step: bool = True  # concatenate z to the decoder input embedding at every step
    tie_embeddings: bool = False  # output projection shares the decoder embedding (needs embed_dim == decoder_hidden_dim)
    share_embeddings: bool = False  # the encoder reads the decoder's embedding table (one V x E table instead of two)
    # Adaptive softmax (Grave et al. 2017): ids below the first cutoff get a full-size output row;
    # rarer ids share clusters with smaller projections (size H / div^i). [] = the full softmax.
    # Word vocabularies are ordered by frequency, so e.g. [2000, 6000] on a 10k vocabulary.
    # With tie_embeddings every word is scored by its own embedding row, as in the tied full
    # softmax, and only the normalisation is split by cluster (tied_adaptive.py; div unused).
    adaptive_softmax_cutoffs: list[int] = field(default_factory=list)
    adaptive_softmax_div: float = 4.0
    # Which output layer training builds: "full" (softmax over the whole vocabulary), "adaptive"
    # (the cutoffs above, or DEFAULT_ADAPTIVE_CUTOFFS when none are given) or "auto": adaptive
    # for a word vocabulary of at least AUTO_ADAPTIVE_MIN_VOCAB ids with untied embeddings, where it
    # cost no validation NLL over two PTB epochs (-0.03 nats per sentence against the tied full
    # softmax at 2.2x the speed, benchmarks/levers.py), else full. Over a whole PTB budget the
    # tied full softmax generalises better (benchmarks/results/ptb_untied_stopped.json), so when
    # the best NLL matters more than speed, tie the embeddings (configs/ptb.yaml does). BPE ids
    # are not ordered by frequency, and a small vocabulary gains little; "auto" keeps tied embeddings
    # on the full softmax (ask for "adaptive" to get the tied adaptive softmax above). Training
    # resolves it once the vocabulary is known (resolve_output_layer) and the checkpoint records
    # what was built.
    output_layer: str = "auto"
    word_dropout: float = 0.3  # Bowman et al. 2016: decoder inputs replaced by <unk> in training
    # Encoder-input denoising (Shen et al. 2020; noise.py), in training only: the encoder reads a
    # perturbed sentence, the decoder still predicts the clean one, so near sentences get near codes.
    encoder_word_drop: float = 0.0  # delete each input word with this probability
    encoder_word_mask: float = 0.0  # replace each input word by <unk> with this probability
    encoder_shuffle: int = 0  # move each input word by at most this many places (0: off)
    # Bag-of-words loss (Zhao et al. 2017), in training only: a linear head predicts each word of
    # the sentence from z alone, weighted by this (0: no head), which pushes the code to name the
    # sentence's words, not only its shape; the decoder is unchanged.
    bow_weight: float = 0.0
    # The encoder's summary of a sentence, from which mu and logvar are read: the final states of
    # every layer and direction, and with pooling also the mean and the maximum over the words of
    # the top layer's outputs, so a word far from both ends reaches the code by a short path.
    encoder_pooling: bool = False
    embed_dropout: float = 0.0  # dropout on embeddings (encoder and decoder)
    output_dropout: float = 0.3  # dropout on decoder GRU outputs before the vocabulary projection
    max_length: int = 60  # longest sentence (in tokens, without <bos>/<eos>) the model is trained on

    @property
    def has_latent(self) -> bool:
        return self.use_latent and self.latent_dim > 0

    @property
    def encoder_noise(self) -> bool:
        """Whether training perturbs the encoder's input (noise.corrupt_encoder_input)."""
        return self.has_latent and (self.encoder_word_drop > 0 or self.encoder_word_mask > 0
                                    or self.encoder_shuffle > 0)

    def validate(self) -> None:
        for name in ("embed_dim", "encoder_hidden_dim", "encoder_layers", "decoder_hidden_dim",
                     "decoder_layers", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.latent_dim < 0:
            raise ConfigError(f"model.latent_dim must be >= 0, got {self.latent_dim}")
        if self.bow_weight < 0:
            raise ConfigError(f"model.bow_weight must be >= 0, got {self.bow_weight}")
        if self.encoder_shuffle < 0:
            raise ConfigError(f"model.encoder_shuffle must be >= 0, got {self.encoder_shuffle}")
        for name in ("word_dropout", "embed_dropout", "output_dropout", "encoder_word_drop",
                     "encoder_word_mask"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"model.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.tie_embeddings and self.embed_dim != self.decoder_hidden_dim:
            raise ConfigError("model.tie_embeddings needs embed_dim == decoder_hidden_dim "
                              f"(got {self.embed_dim} and {self.decoder_hidden_dim})")
        if self.output_layer not in OUTPUT_LAYERS:
            raise ConfigError(f"model.output_layer must be one of {', '.join(OUTPUT_LAYERS)}; "
                              f"got {self.output_layer!r}")
        cutoffs = self.adaptive_softmax_cutoffs
        if cutoffs and self.output_layer == "full":
            raise ConfigError("model.output_layer full and model.adaptive_softmax_cutoffs exclude each "
                              "other (set output_layer: adaptive, or no cutoffs)")
        if cutoffs:
            if cutoffs[0] < 1 or any(b <= a for a, b in zip(cutoffs, cutoffs[1:])):
                raise ConfigError("model.adaptive_softmax_cutoffs must be increasing positive token "
                                  f"counts, got {cutoffs}")
            if self.vocab_size and cutoffs[-1] >= self.vocab_size:
                raise ConfigError(f"model.adaptive_softmax_cutoffs: the largest cutoff ({cutoffs[-1]}) must "
                                  f"be below the vocabulary size ({self.vocab_size})")
            if not self.tie_embeddings:  # tied: every cluster is scored by full-size embedding rows
                self._validate_cluster_projections()

    def _validate_cluster_projections(self) -> None:
        """The untied adaptive softmax's cluster sizes H / div^i must leave at least one dimension."""
        if self.adaptive_softmax_div < 1:
            raise ConfigError(f"model.adaptive_softmax_div must be >= 1, got {self.adaptive_softmax_div}")
        smallest = int(self.decoder_hidden_dim // self.adaptive_softmax_div ** len(self.adaptive_softmax_cutoffs))
        if smallest < 1:
            raise ConfigError(f"model.adaptive_softmax_div {self.adaptive_softmax_div:g} leaves the last of "
                              f"{len(self.adaptive_softmax_cutoffs)} clusters no dimensions (decoder_hidden_dim "
                              f"{self.decoder_hidden_dim}); use a smaller div or fewer cutoffs")


def default_adaptive_cutoffs(vocab_size: int) -> list[int]:
    """DEFAULT_ADAPTIVE_CUTOFFS below the vocabulary size (a quarter of it if none is)."""
    return [c for c in DEFAULT_ADAPTIVE_CUTOFFS if c < vocab_size] or [max(1, vocab_size // 4)]


def resolve_output_layer(cfg: ModelConfig, tokenizer_kind: str) -> None:
    """Turn `cfg.output_layer` into what is built, once `cfg.vocab_size` is known (in place):
    afterwards it is "full" with no cutoffs, or "adaptive" with its cutoffs."""
    if cfg.adaptive_softmax_cutoffs:
        cfg.output_layer = "adaptive"
        return
    if cfg.output_layer == "auto":
        wanted = (tokenizer_kind == "word" and not cfg.tie_embeddings
                  and cfg.vocab_size >= AUTO_ADAPTIVE_MIN_VOCAB)
        cfg.output_layer = "adaptive" if wanted else "full"
    if cfg.output_layer == "adaptive":
        cfg.adaptive_softmax_cutoffs = default_adaptive_cutoffs(cfg.vocab_size)


@dataclass
class TrainConfig:
    """Data, tokenizer, optimisation, KL schedule and run settings."""

    # --- data -------------------------------------------------------------------------------
    train_file: str | None = None  # None: the built-in grammar corpus
    valid_file: str | None = None  # None: a seeded split of train_file (valid_fraction)
    test_file: str | None = None
    text_column: str = "text"  # for csv/tsv/jsonl/parquet/hub data
    valid_fraction: float = 0.05
    long_sentences: str = "drop"  # "drop" or "truncate" sentences over model.max_length tokens
    encoding_errors: str = "strict"  # "strict" (report file and line) or "replace"
    builtin_train_size: int = 20000  # sentences of the built-in corpus
    builtin_valid_size: int = 1000
    builtin_test_size: int = 1000
    # --- tokenizer --------------------------------------------------------------------------
    tokenizer: str = "word"  # "word" (WordLevel) or "bpe"
    lowercase: bool = False
    split_punctuation: bool = False  # word tokenizer: also split punctuation off words (raw text)
    min_frequency: int = 1
    vocab_size: int = 20000  # maximum vocabulary size (word) / target size (bpe), specials included
    # --- optimisation -----------------------------------------------------------------------
    batch_size: int = 64
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # final learning rate = lr * min_lr_ratio
    lr_schedule: str = "cosine"  # "cosine", "linear" or "constant" after warm-up
    warmup_steps: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    max_epochs: int = 10
    max_steps: int = 0  # 0: max_epochs decides
    max_minutes: float = 0.0  # 0: no wall-clock limit
    bucket_size: int = 100  # batches per length bucket when shuffling (1: no bucketing)
    bf16: bool | None = None  # bfloat16 autocast; None: where it is native (step.native_bf16)
    # --- KL term ----------------------------------------------------------------------------
    # Under a max_minutes budget the schedule follows the steps expected to fit (objective.kl_weight):
    # a linear / logistic ramp is compressed to end by half of them, cycles span them.
    kl_schedule: str = "linear"  # "constant", "linear", "logistic" or "cyclical"
    beta: float = 1.0  # final (maximum) KL weight
    kl_warmup_steps: int = 2000  # linear: steps from 0 to beta
    logistic_k: float = 0.0025  # logistic: slope (Bowman et al. 2016)
    logistic_x0: int = 2500  # logistic: midpoint step
    cycles: int = 4  # cyclical (Fu et al. 2019): number of cycles over the run
    cycle_rise: float = 0.5  # cyclical: fraction of a cycle spent rising
    cycle_zero: float = 0.0  # cyclical: fraction of a cycle held at 0 before rising
    free_bits: float = 0.0  # per-dimension KL floor lambda (nats), on the batch-averaged KL
    # Target rate C (nats per sentence; 0: off): the loss is rec + beta * |KL - C| (Burgess et al.
    # 2018), which pushes a code carrying less than C to carry more; beta < 1 only weakens the
    # pull towards the prior. Use it when reconstructions matter (interpolating between given
    # sentences, summaries); keep it 0 for the best NLL.
    kl_target: float = 0.0
    # Aggregate-posterior matching (InfoVAE, Zhao et al. 2019; WAE-MMD, Tolstikhin et al. 2018):
    # adds mmd_weight * MMD^2 between the batch's codes and as many N(0, I) draws (objective.
    # prior_mmd). The KL term shapes each sentence's posterior; this one shapes where all codes
    # lie, so that N(0, I) samples decode to sentences even when codes carry many nats (with
    # kl_target). 0: off. With --nproc each process measures it on its slice of the batch.
    mmd_weight: float = 0.0
    # Autoencoder pretraining (Li et al. 2019): the first `autoencoder_steps` steps train the model
    # with no KL term (beta = 0), then the decoder is re-initialised (`reset_decoder`) and the VAE
    # trains from the pretrained encoder, with its own learning-rate warm-up and KL schedule over
    # the remaining steps. The encoder starts from codes that tell sentences apart, which keeps a
    # target rate (kl_target) from being met by uninformative codes.
    autoencoder_steps: int = 0
    reset_decoder: bool = True
    # --- evaluation and checkpoints ---------------------------------------------------------
    eval_every: int = 500  # steps between validation runs (and checkpoints); 0: once per epoch
    log_every: int = 50
    # The best checkpoint and early stopping follow objective.validation_loss: -ELBO at beta = 1,
    # else the validation value of the objective being trained (rec + beta * |KL - C|, ...).
    patience: int = 0  # stop after this many evaluations without improvement; 0: never
    # After training, fit a mixture prior to the best checkpoint's training codes (prior.py),
    # saved as best/prior.safetensors: `sentvae sample` then samples from where the codes are.
    fit_prior: bool = True
    # --- run --------------------------------------------------------------------------------
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    # torch intra-op threads per process; 0 ("auto"): the cores this process may use, divided among
    # the processes on this machine (distributed.threads_per_process: on a CPU one process with
    # every core trains fastest, benchmarks/results/threads.md).
    threads: int = 0
    # Entries in oneDNN's and ideep's CPU kernel caches (kernel_cache.py): under bf16 every new
    # batch shape adds kernels with buffers of their own, and at the libraries' default of 1,024 a
    # PTB training grew to 3.7 GB; 64 keeps it near its float32 memory at the same speed
    # (benchmarks/results/memory.md). 0: leave the libraries' settings (and the environment) alone.
    kernel_cache: int = 64
    out_dir: str = "runs/default"

    def validate(self) -> None:
        choices = {
            "long_sentences": ("drop", "truncate"),
            "encoding_errors": ("strict", "replace"),
            "tokenizer": ("word", "bpe"),
            "lr_schedule": ("cosine", "linear", "constant"),
            "kl_schedule": ("constant", "linear", "logistic", "cyclical"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"train.{name} must be one of {', '.join(allowed)}; "
                                  f"got {getattr(self, name)!r}")
        for name in ("batch_size", "vocab_size", "min_frequency", "bucket_size", "log_every",
                     "cycles"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_epochs", "max_steps", "warmup_steps", "kl_warmup_steps", "eval_every",
                     "patience", "threads", "builtin_valid_size", "builtin_test_size",
                     "autoencoder_steps", "kernel_cache"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_epochs == 0 and self.max_steps == 0:
            raise ConfigError("one of train.max_epochs or train.max_steps must be > 0")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ConfigError(f"train.valid_fraction must be in (0, 1), got {self.valid_fraction}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.cycle_rise + self.cycle_zero <= 1.0 or self.cycle_rise <= 0:
            raise ConfigError("train.cycle_rise must be > 0 and cycle_rise + cycle_zero <= 1")
        if self.free_bits < 0 or self.beta < 0 or self.kl_target < 0 or self.mmd_weight < 0:
            raise ConfigError("train.free_bits, train.beta, train.kl_target and train.mmd_weight must be >= 0")


# ------------------------------------------------------------------------------------------
# Building configs from dicts, YAML files and --set overrides
# ------------------------------------------------------------------------------------------

SECTIONS = {"model": ModelConfig, "train": TrainConfig}


def _field_types(cls) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _as_float(value) -> float | None:
    """A number as a float; also a string such as "1e-3", which YAML 1.1 (PyYAML) reads as text."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _coerce(value, annotation, key: str):
    """Check (and gently convert) `value` against a field's type; raise ConfigError naming `key`."""
    if typing.get_origin(annotation) is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r} must be a list such as [2000, 6000], got {value!r}")
        return [_coerce(item, item_type, f"{key}[{i}]") for i, item in enumerate(value)]
    allowed = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ConfigError(f"config key {key!r} may not be empty")
    for kind in allowed:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and not isinstance(value, bool):
            number = _as_float(value)
            if number is not None:
                if not math.isfinite(number):
                    raise ConfigError(f"config key {key!r} must be a finite number, got {value!r}")
                return number
        if kind is str and isinstance(value, str):
            return value
    names = " or ".join(getattr(k, "__name__", str(k)) for k in allowed if k is not type(None))
    raise ConfigError(f"config key {key!r} must be {names}, got {value!r}")


def build(cls, values: dict, section: str):
    """Make a `cls` from a dict, rejecting unknown keys and wrong types by name."""
    types_ = _field_types(cls)
    kwargs = {}
    for key, value in (values or {}).items():
        if key not in types_:
            raise ConfigError(f"unknown config key {section}.{key}")
        kwargs[key] = _coerce(value, types_[key], f"{section}.{key}")
    return cls(**kwargs)


def _parse_scalar(text: str):
    """`--set` values are YAML scalars (3, 0.5, true, null, words) or flow lists ([2000, 6000])."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# Fields that `--set` may not change, and why. model.vocab_size is always the trained tokenizer's
# vocabulary size (train.py sets it; a checkpoint's config.json carries it): an override of it
# would only be overwritten.
_NOT_OVERRIDABLE = {
    ("model", "vocab_size"): "model.vocab_size is always taken from the trained tokenizer; "
                             "to cap the vocabulary set train.vocab_size",
}


def apply_overrides(sections: dict[str, dict], overrides: list[str]) -> None:
    """Apply `key=value` strings to the raw section dicts in place."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if "." in key:
            section, name = key.split(".", 1)
            if section not in SECTIONS:
                raise ConfigError(f"unknown config section {section!r} in --set {item}")
        else:
            owners = [s for s, cls in SECTIONS.items() if key in _field_types(cls)]
            if not owners:
                raise ConfigError(f"unknown config key {key!r} in --set {item}")
            if len(owners) > 1:
                raise ConfigError(f"{key} is ambiguous in --set {item}: say "
                                  + " or ".join(f"{s}.{key}" for s in owners))
            section, name = owners[0], key
        if name not in _field_types(SECTIONS[section]):
            raise ConfigError(f"unknown config key {section}.{name} in --set {item}")
        if (section, name) in _NOT_OVERRIDABLE:
            raise ConfigError(f"--set {item}: {_NOT_OVERRIDABLE[section, name]}")
        sections.setdefault(section, {})[name] = _parse_scalar(text)


def shipped_config_dir() -> Path:
    """The folder of the YAML configs shipped with sentvae (demo, ptb, yelp).

    An installed wheel has them in `sentvae/configs/` (pyproject.toml maps the repository's
    `configs/` there); an editable install or a checkout on PYTHONPATH reads the repository's own.
    """
    installed = Path(str(importlib.resources.files("sentvae") / "configs"))
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "configs"


def shipped_configs() -> dict[str, Path]:
    """Name (file stem) -> path of each shipped config."""
    directory = shipped_config_dir()
    return {p.stem: p for p in sorted(directory.glob("*.yaml"))} if directory.is_dir() else {}


def resolve_config_path(path: str | Path) -> Path:
    """A config as given by the user: a file that exists, else the name of a shipped config
    (`demo` or `demo.yaml`); anything else is a ConfigError that lists the shipped names."""
    path = Path(path)
    if path.exists():
        return path  # a file (or a folder, which load_config reports)
    shipped = shipped_configs()
    if len(path.parts) == 1:
        name = path.stem if path.suffix == ".yaml" else path.name
        if name in shipped:
            return shipped[name]
    names = ", ".join(shipped) or "none found"
    raise ConfigError(f"{path}: config file not found (nor a shipped config: {names})")


def load_config(path: str | Path | None = None,
                overrides: list[str] | None = None) -> tuple[ModelConfig, TrainConfig]:
    """Read a YAML config (or the defaults), apply `--set` overrides, validate, return both.

    `path` is a YAML file or the name of a shipped config (`"demo"`, see `shipped_configs`).
    """
    raw: dict = {}
    if path is not None:
        path = resolve_config_path(path)
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, expected a YAML config file")
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not a valid YAML file ({str(exc).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping with 'model' and 'train' sections")
        unknown = set(raw) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"{path}: unknown config section {sorted(unknown)[0]!r} "
                              "(expected 'model' and 'train')")
        for section, cls in SECTIONS.items():
            if raw.get(section) is not None and not isinstance(raw[section], dict):
                raise ConfigError(f"{path}: section {section!r} must be a mapping")
            try:  # name the file when its own keys are wrong (before --set overrides them)
                build(cls, raw.get(section) or {}, section)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
    raw = {s: dict(raw.get(s) or {}) for s in SECTIONS}
    apply_overrides(raw, overrides or [])
    model_cfg = build(ModelConfig, raw["model"], "model")
    train_cfg = build(TrainConfig, raw["train"], "train")
    model_cfg.validate()
    train_cfg.validate()
    return model_cfg, train_cfg


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def save_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")

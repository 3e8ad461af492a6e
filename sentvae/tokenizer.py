"""Train, save and load a Hugging Face `tokenizers` tokenizer; the only place that touches it.

Special tokens are trained first, so their ids are fixed:

    <pad> = 0   padding (never a target)
    <unk> = 1   unknown word; also what word dropout puts in the decoder input
    <bos> = 2   first decoder input
    <eos> = 3   last decoder target

`encode` returns the ids of the words only; the model adds `<bos>`/`<eos>` itself.
Normalisation (lower-casing, punctuation splitting) lives inside `tokenizer.json`, so it travels
with every checkpoint.

`split_punctuation` (word tokenizer) splits raw text the way Penn-Treebank-tokenised corpora are
split, so that raw input and an already tokenised corpus give the same tokens:

    Didn't it's "great"... $10!!!  ->  did n't it 's `` great '' ... $ 10 !

clitics (n't 's 're 've 'm 'll 'd, gon|na, wan|na), PTB quotes (`` ''), curly quotes made
straight, runs of ! ? . collapsed to ! ? ..., every other punctuation character isolated.
Already tokenised text is left as it is ("did n't" stays "did n't"). If the trained vocabulary
has the number placeholder `_num_` (Shen et al.'s Yelp corpus replaced numbers by it), numbers in
later input become `_num_` too ("$10.99" -> "$ _num_", "2nd" and "9:00" are kept). The patterns
are defined once, in text.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from .errors import CheckpointError, DataError
from .text import NUMBER_TOKEN, PTB_REPLACEMENTS, PTB_TOKEN, STANDALONE_NUMBER

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class TextTokenizer:
    """A thin wrapper over `tokenizers.Tokenizer` with the package's special-token convention."""

    def __init__(self, tokenizer: Tokenizer):
        self.hf = tokenizer
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != expected_id:
                raise CheckpointError(
                    f"tokenizer: special token {token} must have id {expected_id}, "
                    f"found {tokenizer.token_to_id(token)}")

    # --- construction --------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], kind: str = "word", vocab_size: int = 20000,
              min_frequency: int = 1, lowercase: bool = False,
              split_punctuation: bool = False) -> "TextTokenizer":
        """Train a `word` (WordLevel) or `bpe` tokenizer on an iterator of sentences."""
        if kind == "word":
            tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
            split = [pre_tokenizers.WhitespaceSplit()]
            if split_punctuation:
                split.append(pre_tokenizers.Split(Regex(PTB_TOKEN), behavior="isolated"))
            tokenizer.pre_tokenizer = pre_tokenizers.Sequence(split)
            trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                special_tokens=SPECIAL_TOKENS, show_progress=False)
        elif kind == "bpe":
            tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
            tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
            tokenizer.decoder = decoders.Metaspace()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                          special_tokens=SPECIAL_TOKENS, show_progress=False)
        else:
            raise ValueError(f"unknown tokenizer kind {kind!r} (expected 'word' or 'bpe')")
        steps = [normalizers.NFKC()]
        if lowercase:
            steps.append(normalizers.Lowercase())
        ptb_style = kind == "word" and split_punctuation
        if ptb_style:
            steps.extend(normalizers.Replace(Regex(pattern), text) for pattern, text in PTB_REPLACEMENTS)
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.add_special_tokens(SPECIAL_TOKENS)
        tokenizer.train_from_iterator(_training_texts(texts), trainer=trainer)
        if ptb_style and tokenizer.token_to_id(NUMBER_TOKEN) is not None:
            steps.append(normalizers.Replace(Regex(STANDALONE_NUMBER), NUMBER_TOKEN))
            tokenizer.normalizer = normalizers.Sequence(steps)
        if tokenizer.get_vocab_size() <= len(SPECIAL_TOKENS):
            raise DataError("the training corpus has no words to build a vocabulary from")
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | Path) -> "TextTokenizer":
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: tokenizer file not found")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:  # tokenizers raises a plain Exception on malformed JSON
            raise CheckpointError(f"{path}: not a valid tokenizer.json ({exc})") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.hf.to_str(pretty=True), encoding="utf-8")

    # --- use -----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def _encodings(self, texts: list[str], ids_only: bool = False):
        # encode_batch_fast skips offsets and token strings (~30% faster when only ids are needed).
        encode = self.hf.encode_batch
        if ids_only and hasattr(self.hf, "encode_batch_fast"):
            encode = self.hf.encode_batch_fast
        try:
            return encode(texts, add_special_tokens=False)
        except TypeError:  # a lone surrogate (text decoded with surrogateescape) is not Unicode
            return encode([_valid_unicode(t) for t in texts], add_special_tokens=False)

    def encode(self, text: str) -> list[int]:
        """Word ids of one sentence, without `<bos>`/`<eos>`."""
        return _as_words(self._encodings([text])[0].ids)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Word ids of many sentences (parallel in Rust)."""
        return [_as_words(e.ids) for e in self._encodings(list(texts), ids_only=True)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a decoded id sequence: stops at `<eos>`, drops `<pad>`/`<bos>`, keeps `<unk>`."""
        kept = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                kept.append(i)
        return self.hf.decode(kept, skip_special_tokens=False)

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def tokens(self, text: str) -> list[str]:
        """The tokens of a sentence as the model sees them (after normalisation; a spelled-out
        control token is `<unk>`, as in `encode`)."""
        encoding = self._encodings([text])[0]
        return [SPECIAL_TOKENS[UNK_ID] if i in _CONTROL_IDS else token
                for token, i in zip(encoding.tokens, encoding.ids)]


_CONTROL_IDS = (PAD_ID, BOS_ID, EOS_ID)


def _as_words(ids: list[int]) -> list[int]:
    """A user's text that spells `<pad>`, `<bos>` or `<eos>` gets `<unk>` there, never the control
    token itself (an `<eos>` in the middle of a sentence would end it)."""
    if any(i in _CONTROL_IDS for i in ids):
        return [UNK_ID if i in _CONTROL_IDS else i for i in ids]
    return ids


def _valid_unicode(text):
    """`text` with lone surrogates replaced by U+FFFD (anything else is returned as it is)."""
    if not isinstance(text, str):
        return text
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


def _training_texts(texts: Iterable[str]) -> Iterator[str]:
    """Non-blank sentences with special-token literals (PTB's `<unk>`) blanked out: they are
    already in the vocabulary, and counting them as words would give them a second id."""
    for text in texts:
        if text and text.strip():
            for token in SPECIAL_TOKENS:
                text = text.replace(token, " ")
            yield text

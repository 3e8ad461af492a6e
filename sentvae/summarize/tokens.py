"""A group's sentences as the model sees them: raw review text -> sentences -> the model's tokens.

The checkpoint's tokenizer normalises the text (tokenizer.py); one that splits on white space only
(trained on an already tokenised corpus) gets the same PTB-style splitting first, in Python
(`text.ptb_tokenize`). Long sentences can be cut into clauses at their punctuation.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..text import NUMBER_TOKEN, ptb_tokenize
from .groups import Group
from .overlap import content_tokens
from .sentences import split_sentences


@dataclass
class InputSentence:
    """One input sentence (or clause) of a group."""

    raw: str  # as in the input (medoid output)
    normalised: str  # the model's tokens, space-joined (what is encoded)
    tokens: list[str]
    text: int  # index of the input text (review) it comes from
    position: float  # where in that text: 0 = its first sentence, 1 = its last


def clauses(tokens: list[str], limit: int) -> list[list[str]]:
    """Split a token list longer than `limit` at its commas / semicolons / dashes nearest the
    middle, recursively (`limit` <= 0: never)."""
    if limit <= 0 or len(tokens) <= limit:
        return [tokens]
    cuts = [i for i, t in enumerate(tokens[:-1]) if t in (",", ";", ":", "-", "--") and 0 < i]
    if not cuts:
        return [tokens]
    middle = len(tokens) / 2
    cut = min(cuts, key=lambda i: abs(i - middle))
    return clauses(tokens[:cut], limit) + clauses(tokens[cut + 1:], limit)


def splits_punctuation(tokenizer) -> bool:
    """Whether the tokenizer itself splits "good." into "good" "." (`split_punctuation`)."""
    pre_tokenizer = tokenizer.hf.pre_tokenizer
    return pre_tokenizer is not None and len(pre_tokenizer.pre_tokenize_str("good.")) > 1


def normaliser(tokenizer):
    """raw sentence -> the tokens the model sees. The checkpoint's tokenizer does the work; one
    that splits on white space only (trained on an already tokenised corpus) gets the same
    PTB-style splitting first, in Python (`text.ptb_tokenize`)."""
    if splits_punctuation(tokenizer):
        return tokenizer.tokens
    numbers = tokenizer.hf.token_to_id(NUMBER_TOKEN) is not None
    return lambda text: tokenizer.tokens(ptb_tokenize(text, numbers=numbers))


def group_sentences(group: Group, tokenizer, max_sentence_tokens: int = 0) -> list[InputSentence]:
    """The group's sentences, each with the tokens the model sees (empty ones dropped); with
    `max_sentence_tokens` > 0, longer ones are cut into clauses."""
    sentences = []
    tokens_of = normaliser(tokenizer)
    for index, text in enumerate(group.texts):
        raws = split_sentences(text)
        for number, raw in enumerate(raws):
            tokens = tokens_of(raw)
            position = number / max(1, len(raws) - 1)
            for piece in clauses(tokens, max_sentence_tokens):
                if content_tokens(piece):
                    sentences.append(InputSentence(raw, " ".join(piece), piece, index, position))
    return sentences

"""Property-based fuzzing: arbitrary text never crashes the tokenizer or the text API.

Random Unicode (with control, format and combining characters and lone surrogates, as text
decoded with `surrogateescape` contains), empty and whitespace-only strings and very long
strings go through the tokenizer, `encode`, `reconstruct`, `interpolate` and `summarize`.
Every output must be a string (or the documented tensor). The model is tiny and untrained:
what it says does not matter here, only that it says it without failing.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentvae.config import ModelConfig
from sentvae.corpus import generate
from sentvae.model import SentenceVAE
from sentvae.tokenizer import TextTokenizer

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# pieces of text a user's file or terminal may hold: any character, weighted towards the
# awkward ones, and strings that mean something to the tokenizer
awkward_characters = st.one_of(
    st.characters(),  # any code point except surrogates
    st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Co", "Cn"]),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from(["\x00", "\n", "\r", "\t", "\x0b", "\ufeff", "\u200b", "\ufffd", " ",
                     "\ufdfa"]),
)
pieces = st.one_of(awkward_characters, st.sampled_from(
    ["<unk>", "<eos>", "<pad>", "<bos>", "...", "''", "``", "n't", "_num_", "$10.99", "the cat"]))


def _text(max_pieces: int, min_pieces: int = 0):
    return st.lists(pieces, min_size=min_pieces, max_size=max_pieces).map("".join)


texts = st.one_of(
    _text(40),
    st.sampled_from(["", " ", "\n\n", "\t \u3000"]),
    # very long: a piece repeated up to 3,000 times
    st.builds(lambda piece, times: piece * times, _text(8, min_pieces=1), st.integers(50, 3000)),
    # real sentences with awkward characters mixed in
    st.builds(lambda sentence, noise: sentence + noise + sentence,
              st.sampled_from([s.text for s in generate(20, seed=0)]), _text(5)),
)


@pytest.fixture(scope="module", params=["word", "bpe"])
def tokenizer(request):
    sentences = [s.text for s in generate(500, seed=2)]
    return TextTokenizer.train(sentences, kind=request.param, vocab_size=300,
                               lowercase=True, split_punctuation=request.param == "word")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    sentences = [s.text for s in generate(500, seed=2)]
    tokenizer = TextTokenizer.train(sentences, lowercase=True, split_punctuation=True)
    cfg = ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=16, encoder_hidden_dim=16,
                      decoder_hidden_dim=16, latent_dim=4, max_length=12)
    return SentenceVAE(cfg, tokenizer).eval()


@FUZZ
@given(text=texts)
def test_tokenizer_round_trip(tokenizer, text):
    ids = tokenizer.encode(text)
    assert all(isinstance(i, int) and 0 <= i < tokenizer.vocab_size for i in ids)
    assert isinstance(tokenizer.decode(ids), str)
    assert all(isinstance(token, str) for token in tokenizer.tokens(text))
    assert tokenizer.encode_batch([text, text]) == [ids, ids]


@FUZZ
@given(batch=st.lists(texts, min_size=1, max_size=4))
def test_encode_gives_finite_codes(model, batch):
    mu, logvar = model.encode(batch)
    assert mu.shape == logvar.shape == (len(batch), model.cfg.latent_dim)
    assert torch.isfinite(mu).all() and torch.isfinite(logvar).all()


@FUZZ
@given(batch=st.lists(texts, min_size=1, max_size=3), strategy=st.sampled_from(
    [{}, {"strategy": "sample", "top_p": 0.9}, {"strategy": "beam", "beam": 2}]))
def test_reconstruct_returns_strings(model, batch, strategy):
    results = model.reconstruct(batch, seed=0, **strategy)
    assert len(results) == len(batch)
    for result, source in zip(results, batch):
        assert isinstance(result.text, str) and result.source == source


@FUZZ
@given(first=texts, second=texts, method=st.sampled_from(["linear", "slerp"]))
def test_interpolate_returns_strings(model, first, second, method):
    results = model.interpolate(first, second, steps=3, method=method)
    assert len(results) == 3
    assert all(isinstance(result.text, str) for result in results)


@FUZZ
@given(group=st.lists(texts, min_size=1, max_size=4), method=st.sampled_from(
    ["mean", "cluster", "medoid"]))
def test_summarize_returns_a_string(model, group, method):
    from sentvae.summarize import Group, SummaryOptions, summarize_group

    options = SummaryOptions(method=method, length=15, subsets=1, n_best=2,
                             strategy={"strategy": "beam", "beam": 2})
    summary = summarize_group(model, Group("g", group), options)
    assert isinstance(summary.text, str)
    assert summary.text or summary.message  # an empty summary says why

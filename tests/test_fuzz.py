"""Property-based fuzzing: arbitrary text never crashes the tokenizer or the text API.

Random Unicode (with control, format and combining characters and lone surrogates, as text
decoded with `surrogateescape` contains), empty and whitespace-only strings and very long
strings go through the tokenizer, `encode`, `reconstruct`, `interpolate` and `summarize`.

Properties:
- only a `SentvaeError` (bad input, reported as one line by the CLI) ever escapes the text API,
  and only for the documented reason (here: a sentence with no tokens to encode);
- every output is text the tokenizer decoded from the output's ids, of at most `max_length`
  tokens (the options' or the model's);
- text made of the tokenizer's own vocabulary round-trips through encode -> decode.

The model is tiny and untrained: what it says does not matter here, only that it says it.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentvae.config import ModelConfig
from sentvae.corpus import generate
from sentvae.decoding import DecodingOptions
from sentvae.errors import SentvaeError
from sentvae.model import SentenceVAE
from sentvae.pipeline import VAEPipeline
from sentvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, TextTokenizer

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_LENGTH = 12  # the model's

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

# decoding options of every strategy, with and without their own max_length
decoding_options = st.sampled_from([
    DecodingOptions(), DecodingOptions("sample", top_p=0.9), DecodingOptions("beam", beam=2),
    DecodingOptions("beam", beam=3, n_best=2, max_length=3), DecodingOptions("sample", max_length=1),
    DecodingOptions(max_length=5, no_repeat_ngram=1, suppress_unk=True),
])

TRAINING_SENTENCES = [s.text for s in generate(500, seed=2)]


@pytest.fixture(scope="module", params=["word", "bpe"])
def tokenizer(request):
    return TextTokenizer.train(TRAINING_SENTENCES, kind=request.param, vocab_size=300,
                               lowercase=True, split_punctuation=request.param == "word")


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    tokenizer = TextTokenizer.train(TRAINING_SENTENCES, lowercase=True, split_punctuation=True)
    cfg = ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=16, encoder_hidden_dim=16,
                      decoder_hidden_dim=16, latent_dim=4, max_length=MAX_LENGTH)
    return VAEPipeline(SentenceVAE(cfg).eval(), tokenizer)


# --- helpers --------------------------------------------------------------------------------------

def refused(call) -> SentvaeError | None:
    """Run `call`: its error if it raised a `SentvaeError` (a refusal the CLI reports as one line),
    else None. Any other exception propagates and fails the test."""
    try:
        call()
    except SentvaeError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return exc
    return None


def without_tokens(vae, batch: list[str]) -> bool:
    """Whether a sentence of `batch` has no tokens at all (the one reason `encode` refuses text)."""
    return any(not ids for ids in vae.tokenizer.encode_batch(batch))


def assert_decoded(vae, generation, options: DecodingOptions) -> None:
    """An output is the tokenizer's text of its ids, of at most max_length real tokens."""
    limit = options.max_length or vae.cfg.max_length
    hypotheses = [(generation.ids, generation.text)]
    hypotheses += [(h["ids"], h["text"]) for h in generation.extra.get("n_best", [])]
    for ids, text in hypotheses:
        assert len(ids) <= limit, (len(ids), limit, options)
        assert all(0 <= i < vae.tokenizer.vocab_size and i not in (PAD_ID, BOS_ID, EOS_ID) for i in ids)
        assert isinstance(text, str) and text == vae.tokenizer.decode(ids)
        if options.suppress_unk:
            assert "<unk>" not in text.split()


# --- the tokenizer -------------------------------------------------------------------------------

@FUZZ
@given(text=texts)
def test_tokenizer_never_fails_on_any_text(tokenizer, text):
    ids = tokenizer.encode(text)
    assert all(isinstance(i, int) and 0 <= i < tokenizer.vocab_size for i in ids)
    assert isinstance(tokenizer.decode(ids), str)
    tokens = tokenizer.tokens(text)
    assert all(isinstance(token, str) for token in tokens) and len(tokens) == len(ids)
    assert [tokenizer.hf.token_to_id(token) for token in tokens] == ids
    assert tokenizer.encode_batch([text, text]) == [ids, ids]


def _is_word_level(tokenizer) -> bool:
    return type(tokenizer.hf.model).__name__ == "WordLevel"


def _vocabulary_words(tokenizer) -> list[str]:
    """Words a text can be made of so that it round-trips: the word tokenizer's vocabulary
    (`<unk>` included: its literal maps to its id and back); for BPE, every word of its training
    corpus (all of them are spelled with its alphabet, so they round-trip as subwords)."""
    if _is_word_level(tokenizer):
        return sorted(w for w in tokenizer.hf.get_vocab() if w not in SPECIAL_TOKENS) + ["<unk>"]
    return sorted({w for s in TRAINING_SENTENCES for w in s.split()})


@FUZZ
@given(data=st.data())
def test_in_vocabulary_text_round_trips(tokenizer, data):
    """decode(encode(text)) gives the text back, lower-cased (the tokenizer lower-cases). The word
    tokenizer splits on any white space and gives exactly the words' ids, so its round trip is
    the text with white space normalised to single spaces; BPE keeps runs of spaces (Metaspace
    marks each one) but reads other white space as characters, so words are joined by spaces."""
    words = data.draw(st.lists(st.sampled_from(_vocabulary_words(tokenizer)), min_size=1, max_size=12))
    shown = [data.draw(st.sampled_from([w, w.upper(), w.capitalize()])) if w != "<unk>" else w
             for w in words]
    is_word = _is_word_level(tokenizer)
    spaces = st.sampled_from([" ", "  ", "\t", "\n", " \t ", "\u3000", "\r\n"] if is_word else [" ", "  ", "   "])
    text = shown[0] + "".join(data.draw(spaces) + w for w in shown[1:])
    ids = tokenizer.encode(text)
    if is_word:
        if data.draw(st.booleans()):  # leading and trailing white space are ignored too
            text = f"{data.draw(spaces)}{text}{data.draw(spaces)}"
            assert tokenizer.encode(text) == ids
        assert ids == [tokenizer.hf.token_to_id(w) for w in words]
        assert tokenizer.decode(ids) == " ".join(words)
        assert tokenizer.decode(ids) == " ".join(text.lower().split())
    else:
        assert tokenizer.decode(ids) == text.lower()
    assert tokenizer.encode(tokenizer.decode(ids)) == ids


# --- the text API --------------------------------------------------------------------------------

@FUZZ
@given(batch=st.lists(texts, min_size=1, max_size=4))
def test_encode_gives_finite_codes_or_refuses_a_sentence_without_tokens(vae, batch):
    codes = {}
    error = refused(lambda: codes.setdefault("mu_logvar", vae.encode(batch)))
    assert (error is not None) == without_tokens(vae, batch), (batch, error)
    if error is None:
        mu, logvar = codes["mu_logvar"]
        assert mu.shape == logvar.shape == (len(batch), vae.cfg.latent_dim)
        assert torch.isfinite(mu).all() and torch.isfinite(logvar).all()


@FUZZ
@given(batch=st.lists(texts, min_size=1, max_size=3), options=decoding_options,
       sample_z=st.booleans())
def test_reconstruct_returns_decoded_text_within_max_length(vae, batch, options, sample_z):
    results = []
    error = refused(lambda: results.extend(vae.reconstruct(batch, options, sample_z=sample_z, seed=0)))
    assert (error is not None) == without_tokens(vae, batch), (batch, error)
    if error is None:
        assert len(results) == len(batch)
        for result, source in zip(results, batch):
            assert result.source == source and result.strategy == options.strategy
            assert_decoded(vae, result, options)


@FUZZ
@given(first=texts, second=texts, method=st.sampled_from(["linear", "slerp"]), options=decoding_options)
def test_interpolate_returns_decoded_text_within_max_length(vae, first, second, method, options):
    results = []
    error = refused(lambda: results.extend(vae.interpolate(first, second, steps=3, method=method,
                                                           options=options, seed=0)))
    assert (error is not None) == without_tokens(vae, [first, second]), (first, second, error)
    if error is None:
        assert [r.position for r in results] == [0.0, 0.5, 1.0]
        for result in results:
            assert_decoded(vae, result, options)


OUT_OF_RANGE = [("strategy", "nucleus"), ("strategy", ""), ("temperature", 0.0), ("temperature", -1.0),
                ("temperature", float("nan")), ("temperature", float("inf")), ("top_p", 0.0),
                ("top_p", 1.5), ("top_p", float("nan")), ("top_k", -1), ("beam", 0), ("alpha", -0.5),
                ("alpha", float("nan")), ("max_length", 0), ("max_length", -3), ("no_repeat_ngram", -1)]


@FUZZ
@given(strategy=st.sampled_from(["greedy", "sample", "beam"]), temperature=st.floats(0.05, 20.0),
       top_k=st.integers(0, 400), top_p=st.floats(0.01, 1.0), beam=st.integers(1, 4),
       alpha=st.floats(0.0, 2.0), n_best=st.integers(1, 3), no_repeat_ngram=st.integers(0, 3),
       max_length=st.one_of(st.none(), st.integers(1, 20)), suppress_unk=st.booleans(),
       corrupt=st.one_of(st.none(), st.sampled_from(OUT_OF_RANGE)))
def test_any_decoding_options_are_refused_or_respected(vae, corrupt, **values):
    """Options are refused (an `ArgumentError` when built) exactly when a value is out of range or
    n-best does not fit the strategy; any others decode within their max_length. (Temperatures
    stay in [0.05, 20]: far smaller or larger ones overflow float32 logits.)"""
    if corrupt is not None:
        values[corrupt[0]] = corrupt[1]
    built = {}
    error = refused(lambda: built.setdefault("options", DecodingOptions(**values)))
    n_best_fits = values["n_best"] == 1 or (values["strategy"] == "beam" and values["n_best"] <= values["beam"])
    assert (error is not None) == (corrupt is not None or not n_best_fits), (values, error)
    if error is None:
        options = built["options"]
        results = []
        assert refused(lambda: results.extend(vae.sample(3, options, seed=0))) is None
        assert len(results) == 3 and all(r.strategy == options.strategy for r in results)
        for result in results:
            assert_decoded(vae, result, options)
            if options.strategy == "beam" and options.n_best > 1:
                assert 1 <= len(result.extra["n_best"]) <= options.n_best


@FUZZ
@given(group=st.lists(texts, min_size=1, max_size=4), method=st.sampled_from(
    ["mean", "cluster", "medoid"]))
def test_summarize_returns_a_string(vae, group, method):
    from sentvae.summarize import Group, SummaryOptions, summarize_group

    options = SummaryOptions(method=method, length=15, subsets=1, n_best=2,
                             strategy=DecodingOptions("beam", beam=2))
    summaries = []
    assert refused(lambda: summaries.append(summarize_group(vae, Group("g", group), options))) is None
    summary = summaries[0]
    assert isinstance(summary.text, str)
    assert summary.text or summary.message  # an empty summary says why

"""VAEPipeline: the text API over a tensor model and its tokenizer (sentvae/pipeline.py)."""

from __future__ import annotations

import pytest
import torch

from sentvae.config import ModelConfig
from sentvae.decoding import DecodingOptions, decode
from sentvae.errors import ArgumentError
from sentvae.model import SentenceVAE
from sentvae.pipeline import VAEPipeline

SENTENCES = ["the dog sees a cat .", "did the cats sleep ?", "a small bird sings in the tree ."]


@pytest.fixture(scope="module")
def language_model(trained_vae):
    """An untrained language model (no latent) with the trained tokenizer."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=trained_vae.tokenizer.vocab_size, embed_dim=16, encoder_hidden_dim=16,
                      decoder_hidden_dim=16, latent_dim=0)
    return VAEPipeline(SentenceVAE(cfg).eval(), trained_vae.tokenizer)


def test_the_pipeline_holds_a_model_and_the_tokenizer_it_was_trained_with(trained_vae):
    assert isinstance(trained_vae.model, SentenceVAE) and trained_vae.cfg is trained_vae.model.cfg
    assert trained_vae.tokenizer.vocab_size == trained_vae.cfg.vocab_size
    smaller = ModelConfig(vocab_size=trained_vae.cfg.vocab_size - 1, embed_dim=8, encoder_hidden_dim=8,
                          decoder_hidden_dim=8, latent_dim=2)
    with pytest.raises(ArgumentError, match="tokens but the model expects"):
        VAEPipeline(SentenceVAE(smaller), trained_vae.tokenizer)


def test_encode_gives_the_posterior_of_each_sentence_and_leaves_the_mode_alone(trained_vae):
    model = trained_vae.model
    mu, logvar = trained_vae.encode(SENTENCES)
    assert mu.shape == logvar.shape == (3, trained_vae.cfg.latent_dim)
    alone = torch.cat([trained_vae.encode([s])[0] for s in SENTENCES])
    assert torch.allclose(mu, alone, atol=1e-5)  # a sentence's code does not depend on its batch
    model.train()
    try:
        assert torch.equal(trained_vae.encode(SENTENCES)[0], mu)  # encoded in eval mode ...
        assert model.training  # ... and the mode restored
    finally:
        model.eval()


def test_encode_truncates_to_the_models_max_length(trained_vae):
    longest = trained_vae.cfg.max_length
    words = ("the dog sees a cat . " * 20).split()
    assert len(words) > longest
    cut = " ".join(words[:longest])
    assert torch.equal(trained_vae.encode([" ".join(words)])[0], trained_vae.encode([cut])[0])


@pytest.mark.parametrize("texts, number", [([""], 1), (["a cat sleeps .", "   "], 2),
                                           (["\t\n", "a cat sleeps ."], 1)])
def test_encode_refuses_a_sentence_without_tokens_by_number(trained_vae, texts, number):
    with pytest.raises(ArgumentError, match=rf"sentence {number} \(.*\) has no tokens"):
        trained_vae.encode(texts)


def test_a_language_model_refuses_what_needs_a_latent_code(language_model):
    for call in (lambda: language_model.encode(SENTENCES),
                 lambda: language_model.reconstruct(SENTENCES),
                 lambda: language_model.interpolate(SENTENCES[0], SENTENCES[1]),
                 lambda: language_model.interpolate(None, None, prior=True)):
        with pytest.raises(ArgumentError, match="latent"):
            call()
    samples = language_model.sample(3, DecodingOptions("sample"), seed=0)
    assert len(samples) == 3 and all(g.z is None and g.strategy == "sample" for g in samples)
    assert [g.text for g in samples] == [g.text for g in language_model.sample(3, DecodingOptions("sample"),
                                                                              seed=0)]


def test_generate_and_decode_are_decoding_decode_with_the_tokenizer(trained_vae):
    z = torch.randn(5, trained_vae.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    options = DecodingOptions("beam", beam=3, max_length=7)
    records = trained_vae.generate(z, options)
    direct = decode(trained_vae.model, z, trained_vae.tokenizer, options)
    assert [(r.ids, r.text, r.logprob) for r in records] == [(r.ids, r.text, r.logprob) for r in direct]
    assert all(r.text == trained_vae.tokenizer.decode(r.ids) for r in records)
    assert trained_vae.decode(z, options) == [r.text for r in records]
    assert trained_vae.decode(z) == [r.text for r in trained_vae.generate(z)]  # greedy by default


@pytest.fixture(scope="module")
def standard_prior(trained_vae):
    """The trained model and tokenizer, sampling from N(0, I) only."""
    return VAEPipeline(trained_vae.model, trained_vae.tokenizer)


def test_sample_draws_z_from_the_scaled_prior_with_its_seed(standard_prior):
    vae = standard_prior
    records = vae.sample(4, z_scale=0.5, seed=3)
    expected = torch.randn(4, vae.cfg.latent_dim, generator=torch.Generator().manual_seed(3)) * 0.5
    assert torch.allclose(torch.tensor([r.z for r in records]), expected)
    assert [r.text for r in records] == vae.decode(expected)
    with pytest.raises(ArgumentError, match="number of samples"):
        vae.sample(0)
    with pytest.raises(ArgumentError, match="z scale"):
        vae.sample(2, z_scale=0.0)


def test_refined_samples_are_the_reconstructions_of_the_first_draws(standard_prior):
    from sentvae.decoding import Generation

    vae = standard_prior
    first = vae.sample(12, seed=4)
    refined = vae.sample(12, seed=4, refine=1)
    assert [r.text for r in refined] == [r.text for r in vae.reconstruct([r.text for r in first])]
    mu, _ = vae.encode([r.text for r in first])
    assert torch.allclose(torch.tensor([r.z for r in refined]), mu)  # decoded from the re-encoding
    assert all(r.extra["refined"] == 1 for r in refined) and "refined" not in first[0].extra
    twice = vae.sample(12, seed=4, refine=2)
    assert [r.text for r in twice] == [r.text for r in vae.refine(refined)]
    assert all(r.extra["refined"] == 2 for r in twice)  # the rounds each record went through
    assert all(r.extra["refined"] == 1 for r in refined)  # refine() leaves the records it is given alone
    assert [r.text for r in refined] != [r.text for r in first]  # the tiny model's samples do move
    empty = Generation(text="", ids=[], logprob=0.0, strategy="greedy")
    assert vae.refine([empty])[0].text == ""  # nothing to encode: kept as it is
    with pytest.raises(ArgumentError, match="refine"):
        vae.sample(2, refine=-1)


def test_reconstruct_decodes_the_posterior_mean_or_a_seeded_sample(trained_vae):
    assert trained_vae.reconstruct([]) == []
    mu, logvar = trained_vae.encode(SENTENCES)
    records = trained_vae.reconstruct(SENTENCES)
    assert [r.source for r in records] == SENTENCES
    assert [r.text for r in records] == trained_vae.decode(mu)
    assert torch.allclose(torch.tensor([r.z for r in records]), mu)
    sampled = trained_vae.reconstruct(SENTENCES, sample_z=True, seed=5)
    noise = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(torch.tensor([r.z for r in sampled]), mu + noise * torch.exp(0.5 * logvar),
                          atol=1e-6)
    again = trained_vae.reconstruct(SENTENCES, sample_z=True, seed=5)
    assert [r.z for r in again] == [r.z for r in sampled]


def test_interpolate_walks_between_the_two_codes(trained_vae, standard_prior):
    mu, _ = trained_vae.encode(SENTENCES[:2])
    points = trained_vae.interpolate(SENTENCES[0], SENTENCES[1], steps=5)
    assert [p.position for p in points] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert torch.allclose(torch.tensor(points[0].z), mu[0]) and torch.allclose(torch.tensor(points[-1].z), mu[1])
    prior = standard_prior.interpolate(None, None, steps=4, prior=True, seed=2)
    ends = torch.randn(2, trained_vae.cfg.latent_dim, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(torch.tensor(prior[0].z), ends[0]) and torch.allclose(torch.tensor(prior[-1].z), ends[1])
    full = trained_vae.interpolate(None, None, steps=24, prior=True, seed=2)
    unique = trained_vae.interpolate(None, None, steps=24, prior=True, seed=2, unique=True)
    texts = [p.text for p in full]
    assert [p.text for p in unique] == [t for i, t in enumerate(texts) if i == 0 or t != texts[i - 1]]
    with pytest.raises(ArgumentError, match="two sentences"):
        trained_vae.interpolate(SENTENCES[0], None)
    with pytest.raises(ArgumentError, match="at least 2 steps"):
        trained_vae.interpolate(SENTENCES[0], SENTENCES[1], steps=1)


def test_white_space_only_sentences_are_refused_with_a_bpe_tokenizer_too(trained_vae):
    from sentvae.tokenizer import TextTokenizer

    bpe = TextTokenizer.train([f"the dog {w} sees a cat ." for w in ("big", "small", "red")] * 30,
                              kind="bpe", vocab_size=trained_vae.cfg.vocab_size)
    assert bpe.encode(" ")  # BPE makes a token of white space: the check must not rely on ids alone
    torch.manual_seed(0)
    model = SentenceVAE(ModelConfig(**{**vars(trained_vae.cfg), "vocab_size": bpe.vocab_size}))
    vae = VAEPipeline(model, bpe)
    for blank in (" ", "\t", "  \n "):
        with pytest.raises(ArgumentError, match="sentence 2"):
            vae.encode(["the dog sees a cat .", blank])


@pytest.mark.parametrize("temperature", [1e-40, 1e-8, 1e8, 1e300])
def test_sampling_at_extreme_temperatures_stays_finite(standard_prior, temperature):
    """1e-40 behaves as greedy decoding, 1e300 as uniform over the allowed tokens; neither is NaN."""
    options = DecodingOptions("sample", temperature=temperature, max_length=12)
    results = standard_prior.sample(6, options, seed=3)
    assert len(results) == 6 and all(len(r.ids) <= 12 for r in results)
    if temperature <= 1e-8:
        greedy = standard_prior.sample(6, DecodingOptions("greedy", max_length=12), seed=3)
        assert [r.ids for r in results] == [g.ids for g in greedy]

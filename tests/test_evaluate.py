"""The evaluation estimators on cases with known answers, the `evaluate` / `plot` commands."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sentvae import evaluate as ev
from sentvae.corpus import splits
from sentvae.data import encode_split
from sentvae.errors import ArgumentError
from sentvae.metrics import corpus_bleu, distinct_n, self_bleu
from sentvae.pipeline import VAEPipeline
from sentvae.tokenizer import BOS_ID, EOS_ID


def split_of(vae, texts):
    """An EncodedSplit of `texts` with the pipeline's tokenizer (nothing dropped)."""
    import datasets

    return encode_split(datasets.Dataset.from_dict({"text": list(texts)}), vae.tokenizer, 10 ** 9,
                        long_sentences="truncate")


@pytest.fixture(scope="module")
def test_texts():
    return [s.text for s in splits(train=1, valid=1, test=2000, seed=11)["test"]]


@pytest.fixture(scope="module")
def small_split(trained_vae, test_texts):
    return split_of(trained_vae, test_texts[:120])


@pytest.fixture(scope="module")
def trained_model(trained_vae):
    """The tensor model of `trained_vae` (what the numeric estimators take)."""
    return trained_vae.model


# --- importance-weighted NLL -----------------------------------------------------------------------

def test_iw_nll_with_one_sample_is_the_negative_elbo_in_expectation(trained_model, small_split):
    # Both are unbiased estimates of -ELBO (IW with K = 1: E_q[-log p(x,z) + log q(z|x)]; evaluate_bound:
    # one-sample reconstruction + analytic KL). Compare their means over seeds within 4 standard
    # errors; the standard error is checked to be small, so the comparison has power (a wrong
    # log-density term, e.g. log sigma^2 instead of log sigma, moves IW by several nats).
    seeds = range(12)
    iw = np.array([ev.importance_weighted_nll(trained_model, small_split, k=1, seed=s)["nll_per_sentence"]
                   for s in seeds])
    elbo = np.array([ev.evaluate_bound(trained_model, small_split, seed=100 + s)["neg_elbo_per_sentence"]
                     for s in seeds])
    se = math.sqrt(iw.var(ddof=1) / len(iw) + elbo.var(ddof=1) / len(elbo))
    assert se < 0.25
    assert abs(iw.mean() - elbo.mean()) < 4 * se + 0.02, (iw.mean(), elbo.mean(), se)


def test_iw_nll_weakly_decreases_as_k_grows(trained_model, small_split):
    # E[-log mean of K weights] is non-increasing in K (Burda et al. 2016); averaged over seeds.
    means = {}
    for k in (1, 4, 16, 64):
        means[k] = np.mean([ev.importance_weighted_nll(trained_model, small_split, k=k, seed=s)["nll_per_sentence"]
                            for s in range(4)])
    ks = sorted(means)
    for smaller, larger in zip(ks, ks[1:]):
        assert means[larger] <= means[smaller] + 0.02, means
    assert means[64] < means[1] - 0.05, means  # the model uses its latent (KL > 0): a real gap
    assert trained_model.training is False


def test_iw_nll_is_reproducible_and_leaves_the_global_rng_alone(trained_model, small_split):
    state = torch.get_rng_state()
    first = ev.importance_weighted_nll(trained_model, small_split, k=8, seed=3, batch_size=16)
    assert torch.equal(state, torch.get_rng_state())
    # Different batching (rows per pass, token budget) must not change the draws or the result.
    again = ev.importance_weighted_nll(trained_model, small_split, k=8, seed=3, batch_size=64, max_tokens=100)
    assert np.allclose(first["per_sentence"], again["per_sentence"], atol=1e-3)
    assert first["nll_per_token"] == pytest.approx(first["per_sentence"].sum() / small_split.num_targets)
    assert first["ppl"] == pytest.approx(math.exp(first["nll_per_token"]))


def test_iw_nll_under_two_priors_shares_the_draws(trained_model, small_split):
    """One pass scores both priors: each equals its own call, and with one draw per sentence the two
    NLLs differ by exactly log N(z; 0, I) - log p_fitted(z) at that sentence's draw."""
    from sentvae.data import collate
    from sentvae.likelihood import _sentence_generator
    from sentvae.prior import GaussianMixture, standard_normal_log_prob

    dim = trained_model.cfg.latent_dim
    generator = torch.Generator().manual_seed(0)
    mixture = GaussianMixture(torch.tensor([0.3, 0.7], dtype=torch.float64).log(),
                              torch.randn(2, dim, generator=generator, dtype=torch.float64),
                              log_vars=torch.full((2, dim), -0.5, dtype=torch.float64))
    both = ev.importance_weighted_nlls(trained_model, small_split, {"standard": None, "fitted": mixture},
                                       k=1, seed=5)
    alone = {"standard": ev.importance_weighted_nll(trained_model, small_split, k=1, seed=5),
             "fitted": ev.importance_weighted_nll(trained_model, small_split, k=1, seed=5, prior=mixture)}
    for name in ("standard", "fitted"):
        assert np.array_equal(both[name]["per_sentence"], alone[name]["per_sentence"])
    tokens, lengths = collate(small_split.batch_ids(np.arange(len(small_split))))
    with torch.no_grad():
        mu, logvar = trained_model.posterior(tokens, lengths)  # (N, Z) each
    eps = torch.stack([torch.randn(1, dim, generator=_sentence_generator(5, i))[0] for i in range(len(small_split))])
    z = mu + eps * torch.exp(0.5 * logvar)  # (N, Z): each sentence's one draw
    expected = (standard_normal_log_prob(z) - mixture.log_prob(z)).double().numpy()
    difference = both["fitted"]["per_sentence"] - both["standard"]["per_sentence"]
    assert np.allclose(difference, expected, atol=1e-3)
    assert np.abs(difference).max() > 0.1  # the priors do differ at these draws


def test_language_model_nll_is_the_exact_sum_of_token_nlls(trained_run):
    from conftest import tiny_configs
    from sentvae.model import SentenceVAE
    from sentvae.tokenizer import TextTokenizer

    tokenizer = TextTokenizer.load(trained_run / "best" / "tokenizer.json")
    model_cfg, _ = tiny_configs(trained_run, "model.use_latent=false")
    model_cfg.vocab_size = tokenizer.vocab_size
    torch.manual_seed(0)
    model = SentenceVAE(model_cfg).eval()
    texts = [s.text for s in splits(train=1, valid=1, test=25, seed=2)["test"]]
    split = split_of(VAEPipeline(model, tokenizer), texts)
    result = ev.exact_nll(model, split, batch_size=7)
    for row, ids in enumerate(split.batch_ids(np.arange(len(split)))):
        hidden, previous, total = model.decoder.initial_hidden(None, 1), BOS_ID, 0.0
        with torch.no_grad():
            for target in ids + [EOS_ID]:
                logits, hidden = model.decoder.step(torch.tensor([previous]), hidden, None)
                total -= float(F.log_softmax(logits[0], dim=-1)[target])
                previous = target
        assert result["per_sentence"][row] == pytest.approx(total, rel=1e-4)
    assert result["nll_per_token"] == pytest.approx(result["per_sentence"].sum()
                                                    / (split.lengths.sum() + len(split)))
    with pytest.raises(ArgumentError):
        ev.importance_weighted_nll(model, split, k=2)


# --- the latent space ------------------------------------------------------------------------------

def test_mutual_information_is_zero_when_the_encoder_ignores_its_input(trained_vae, trained_model, test_texts):
    split = split_of(trained_vae, test_texts)
    blind = copy.deepcopy(trained_model)
    with torch.no_grad():
        blind.encoder.to_gaussian.weight.zero_()  # q(z | x) is the same Gaussian for every x
    # Per-sentence noise has variance Z/2 = 4; over 2,000 sentences the s.e. is ~0.045.
    assert abs(ev.mutual_information(blind, split)) < 0.2
    assert abs(ev.mutual_information(blind, split, aggregate="all")) < 0.2
    informative = ev.mutual_information(trained_model, split)
    assert informative > 0.5
    # The batch estimator of He et al. cannot exceed log(batch size) (up to that noise).
    assert ev.mutual_information(trained_model, split, batch_size=2) < math.log(2) + 0.2


def test_active_units_counts_the_dimensions_the_encoder_uses(trained_vae, trained_model, test_texts):
    split = split_of(trained_vae, test_texts[:300])
    constructed = copy.deepcopy(trained_model)
    latent = constructed.cfg.latent_dim
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        weight = constructed.encoder.to_gaussian.weight  # (2Z, H): rows 0..Z-1 give mu
        weight[:latent] = 0.0
        weight[1] = 3.0 * torch.randn(weight.size(1), generator=generator)
        weight[5] = 3.0 * torch.randn(weight.size(1), generator=generator)
        weight[6] = 1e-4 * torch.randn(weight.size(1), generator=generator)  # varies, but barely
    units = ev.active_units(constructed, split)
    assert units["active_units"] == 2
    assert units["latent_dim"] == latent
    variances = units["variances"]
    assert variances[1] > 0.01 and variances[5] > 0.01 and 0 < variances[6] < 0.01
    assert all(variances[d] == 0.0 for d in range(latent) if d not in (1, 5, 6))


def test_kl_per_dimension_sums_to_the_kl_of_the_bound(trained_model, small_split):
    per_dimension = ev.kl_per_dimension(trained_model, small_split)
    assert len(per_dimension) == trained_model.cfg.latent_dim
    assert sum(per_dimension) == pytest.approx(ev.evaluate_bound(trained_model, small_split)["kl_per_sentence"],
                                               rel=1e-4)


# --- text metrics --------------------------------------------------------------------------------

def test_bleu_of_identical_texts_is_100_and_distinct_counts_unique_ngrams():
    texts = ["the dog sees a cat .", "a small bird sings in the tree ."]
    assert corpus_bleu(texts, texts) == pytest.approx(100.0)
    assert self_bleu([texts[0]] * 4) == pytest.approx(100.0)
    assert corpus_bleu(["zebra"] * 2, texts) < 1.0
    assert distinct_n(["a b a", "a b"], 1) == pytest.approx(2 / 5)
    assert distinct_n(["a b a", "a b"], 2) == pytest.approx(2 / 3)


# --- everything together -------------------------------------------------------------------------

def test_evaluate_reports_every_metric(trained_vae, small_split):
    results = ev.evaluate(trained_vae, small_split, iw_samples=10, prior_samples=40)
    json.dumps(results)  # JSON-ready
    assert results["latent"] and results["iw_samples"] == 10 and results["nll_method"] == "importance-weighted"
    assert results["sentences"] == len(small_split) and results["tokens"] == small_split.num_targets
    for key in ("nll_per_sentence", "nll_per_token", "ppl", "neg_elbo_per_sentence", "rec_per_sentence",
                "kl_per_sentence", "mutual_information", "reconstruction_bleu", "distinct_1", "distinct_2",
                "self_bleu"):
        assert math.isfinite(results[key]), key
    assert results["neg_elbo_per_sentence"] == pytest.approx(results["rec_per_sentence"]
                                                             + results["kl_per_sentence"])
    assert results["nll_per_sentence"] < results["neg_elbo_per_sentence"] + 0.5
    assert 0 <= results["active_units"] <= trained_vae.cfg.latent_dim
    assert 0 <= results["reconstruction_bleu"] <= 100
    # the length buckets split the same sentences and their exact matches add up to the total
    by_length = results["reconstruction_exact_match_by_length"]
    assert sum(b["sentences"] for b in by_length.values()) == results["reconstruction_sentences"]
    assert sum(b["sentences"] * b["exact_match"] for b in by_length.values()) == pytest.approx(
        results["reconstruction_exact_match"] * results["reconstruction_sentences"])
    table = ev.format_table(results)
    assert "<eos>" in table and "K=10" in table and "n/a" not in table
    assert "by length (tokens): " + ", ".join(by_length) in table


def test_beam_reconstruction_scores_the_sentences_beam_search_gives_back(trained_vae, test_texts):
    from sentvae.decoding import DecodingOptions
    from sentvae.quality import interpolation_quality, prior_sample_texts, reconstruction_bleu

    split = split_of(trained_vae, test_texts[:60])
    texts = list(split.column("text"))
    normalised = [trained_vae.tokenizer.decode(trained_vae.tokenizer.encode(t)) for t in texts]
    for beam, options in ((1, DecodingOptions("greedy")), (4, DecodingOptions("beam", beam=4))):
        results = reconstruction_bleu(trained_vae, split, beam=beam)
        decoded = [g.text for g in trained_vae.reconstruct(texts, options)]
        expected = sum(d == t for d, t in zip(decoded, normalised)) / len(texts)
        assert results["reconstruction_exact_match"] == pytest.approx(expected)
        assert results["reconstruction_decoding"] == ("greedy" if beam == 1 else "beam 4")
    paths = interpolation_quality(trained_vae, texts, pairs=3, steps=4, beam=4)
    assert paths["decoding"] == "beam 4"
    first, second = paths["examples"][0]["first"], paths["examples"][0]["second"]
    beam_path = [g.text for g in trained_vae.interpolate(first, second, steps=4,
                                                         options=DecodingOptions("beam", beam=4))]
    assert paths["examples"][0]["points"] == beam_path
    assert prior_sample_texts(trained_vae, 6, seed=3, beam=4) == [
        g.text for g in trained_vae.sample(6, DecodingOptions("beam", beam=4), seed=3)]
    results = ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=20, beam=4, interpolation_pairs=2)
    assert results["prior_strategy"] == "beam 4" and results["generation"]["decoding"] == "beam 4"
    assert "beam 4 samples from N(0, I)" in ev.format_table(results)
    with pytest.raises(ArgumentError, match="beam"):
        ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=0, beam=0)


def test_reranked_metrics_decode_as_the_reranking_beam_does(trained_vae, test_texts):
    from sentvae.decoding import DecodingOptions
    from sentvae.quality import interpolation_quality, reconstruction_bleu

    split = split_of(trained_vae, test_texts[:60])
    texts = list(split.column("text"))
    normalised = [trained_vae.tokenizer.decode(trained_vae.tokenizer.encode(t)) for t in texts]
    options = DecodingOptions("beam", beam=4, rerank=True)
    results = reconstruction_bleu(trained_vae, split, beam=4, rerank=True)
    decoded = [g.text for g in trained_vae.reconstruct(texts, options)]
    assert results["reconstruction_exact_match"] == pytest.approx(
        sum(d == t for d, t in zip(decoded, normalised)) / len(texts))
    assert results["reconstruction_decoding"] == "beam 4, re-ranked"
    paths = interpolation_quality(trained_vae, texts, pairs=2, steps=4, beam=4, rerank=True)
    first, second = paths["examples"][0]["first"], paths["examples"][0]["second"]
    assert paths["examples"][0]["points"] == [g.text for g in trained_vae.interpolate(first, second, steps=4,
                                                                                      options=options)]
    results = ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=20, beam=4, rerank=True,
                          interpolation_pairs=2)
    assert results["reconstruction_decoding"] == "beam 4, re-ranked"
    assert results["generation"]["interpolation"]["decoding"] == "beam 4, re-ranked"
    # prior samples have no sentence to come back to: plain beam search
    assert results["prior_strategy"] == "beam 4" and results["generation"]["decoding"] == "beam 4"
    with pytest.raises(ArgumentError, match="re-ranking"):
        ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=0, rerank=True)


def test_prior_samples_at_a_narrower_spread_are_what_sample_gives_at_that_z_scale(trained_vae, test_texts):
    from sentvae.quality import generation_quality, prior_sample_texts

    split = split_of(trained_vae, test_texts[:30])
    texts = prior_sample_texts(trained_vae, 12, seed=5, z_scale=0.3)
    assert texts == [g.text for g in trained_vae.sample(12, seed=5, z_scale=0.3)]
    assert texts != prior_sample_texts(trained_vae, 12, seed=5)  # the spread reaches the codes
    results = ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=12, seed=5, interpolation_pairs=0,
                          z_scale=0.3)
    assert results["prior_z_scale"] == 0.3 and results["generation"]["z_scale"] == 0.3
    default_prior = "fitted" if trained_vae.prior is not None else "standard"  # what `sample` draws from
    assert results["generation"]["priors"][default_prior]["examples"] == texts[:5]
    plain = ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=12, seed=5, interpolation_pairs=0)
    assert plain["nll_per_sentence"] == results["nll_per_sentence"]  # the NLL is under the prior as it is
    assert "z scale 0.3" in ev.format_table(results) and "z scale" not in ev.format_table(plain)
    assert generation_quality(trained_vae, texts, n=12, seed=5, pairs=0, z_scale=0.3)["priors"] == \
        results["generation"]["priors"]
    with pytest.raises(ArgumentError, match="z_scale"):
        ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=4, z_scale=0)
    refined = ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=12, seed=5, interpolation_pairs=0,
                          z_scale=0.3, refine=1)
    assert refined["generation"]["priors"][default_prior]["examples"] == [
        g.text for g in trained_vae.sample(12, seed=5, z_scale=0.3, refine=1)][:5]
    assert refined["prior_refine"] == 1 and "z scale 0.3, refined 1x" in ev.format_table(refined)
    with pytest.raises(ArgumentError, match="refine"):
        ev.evaluate(trained_vae, split, iw_samples=2, prior_samples=4, refine=-1)


def test_exact_match_by_length_buckets_sentences_by_their_token_count():
    from sentvae.quality import exact_match_by_length

    lengths = np.array([3, 7, 8, 11, 12, 30])
    buckets = exact_match_by_length(lengths, [True, False, True, True, False, False])
    assert buckets == {"1-7": {"sentences": 2, "exact_match": 0.5}, "8-11": {"sentences": 2, "exact_match": 1.0},
                       "12-15": {"sentences": 1, "exact_match": 0.0}, "16+": {"sentences": 1, "exact_match": 0.0}}
    assert list(exact_match_by_length(np.array([9]), [True])) == ["8-11"]  # empty buckets are left out


def test_language_model_is_evaluated_exactly_with_latent_metrics_not_applicable(trained_run, small_split):
    from conftest import tiny_configs
    from sentvae.model import SentenceVAE
    from sentvae.tokenizer import TextTokenizer

    model_cfg, _ = tiny_configs(trained_run, "model.latent_dim=0")
    tokenizer = TextTokenizer.load(trained_run / "best" / "tokenizer.json")
    model_cfg.vocab_size = tokenizer.vocab_size
    model = SentenceVAE(model_cfg).eval()
    results = ev.evaluate(VAEPipeline(model, tokenizer), small_split, prior_samples=20)
    assert results["nll_method"] == "exact" and results["iw_samples"] is None
    assert results["nll_per_sentence"] == pytest.approx(results["neg_elbo_per_sentence"], rel=1e-5)
    for key in ("mutual_information", "active_units", "reconstruction_bleu"):
        assert results[key] is None
    assert results["prior_strategy"] == "sample"
    assert "n/a" in ev.format_table(results)
    with pytest.raises(ArgumentError, match="latent code"):  # nothing to refine a sample through
        ev.evaluate(VAEPipeline(model, tokenizer), small_split, prior_samples=5, refine=1)
    with pytest.raises(ArgumentError, match="latent code"):
        VAEPipeline(model, tokenizer).sample(3, refine=1)


def test_long_sentences_are_kept_or_truncated_never_dropped(trained_vae, tmp_path):
    words = " ".join(["the dog sees a cat ."] * 15)  # 90 tokens > max_length 60
    path = tmp_path / "long.txt"
    path.write_text(f"a cat sleeps .\n{words}\n", encoding="utf-8")
    kept = ev.load_evaluation_split(trained_vae, str(path))
    assert len(kept) == 2 and kept.lengths.max() == 90 and kept.truncated == 0
    cut = ev.load_evaluation_split(trained_vae, str(path), long_sentences="truncate")
    assert len(cut) == 2 and cut.lengths.max() == trained_vae.cfg.max_length and cut.truncated == 1
    results = ev.evaluate(trained_vae, kept, iw_samples=2, prior_samples=0)
    assert results["sentences_over_max_length_kept"] == 1 and "scored whole" in ev.format_table(results)


# --- command line --------------------------------------------------------------------------------

def test_cli_evaluate_writes_json(trained_run, test_texts, tmp_path, capsys):
    from sentvae.cli import main

    data = tmp_path / "test.tsv"
    data.write_text("label\tsentence\n" + "".join(f"{i % 2}\t{t}\n" for i, t in enumerate(test_texts[:60])),
                    encoding="utf-8")
    out = tmp_path / "results.json"
    code = main(["evaluate", "-m", str(trained_run), "--data", str(data), "--text-column", "sentence",
                 "--iw-samples", "4", "--prior-samples", "25", "--max-sentences", "50", "--json", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    assert results["sentences"] == 50 and results["iw_samples"] == 4 and results["prior_samples"] == 25
    for key in ("nll_per_sentence", "nll_per_token", "ppl", "neg_elbo_per_sentence", "kl_per_sentence",
                "mutual_information", "active_units", "reconstruction_bleu", "distinct_1", "distinct_2",
                "self_bleu", "token_note"):
        assert key in results
    assert "perplexity" in capsys.readouterr().out
    assert main(["evaluate", "-m", str(trained_run), "--data", str(data), "--text-column", "sentence",
                 "--iw-samples", "2", "--prior-samples", "0", "--max-sentences", "20",
                 "--beam", "3"]) == 0
    assert "reconstruction exact match (posterior mean, beam 3)" in capsys.readouterr().out
    samples = ["--iw-samples", "2", "--prior-samples", "10", "--interpolation-pairs", "0", "--max-sentences", "20"]
    for flags, described in ((["--z-scale", "0.5"], "z scale 0.5"), (["--refine", "1"], "refined 1x")):
        assert main(["evaluate", "-m", str(trained_run), "--data", str(data), "--text-column", "sentence",
                     *samples, *flags]) == 0
        assert f"prior samples (10, greedy, {described}): distinct-1" in capsys.readouterr().out
    assert main(["evaluate", "-m", str(trained_run), "--data", str(data), "--text-column", "sentence",
                 "--z-scale", "-1"]) == 2
    assert "z_scale must be > 0" in capsys.readouterr().err
    assert main(["evaluate", "-m", str(trained_run), "--data", str(tmp_path / "missing.txt")]) == 2
    assert main(["evaluate", "-m", str(trained_run), "--data", str(data), "--text-column", "nope"]) == 2


def test_plots_write_png_files(trained_run, test_texts, tmp_path):
    from sentvae.cli import main

    data = tmp_path / "labelled.tsv"
    data.write_text("label\tsentence\n" + "".join(f"{'q' if t.endswith('?') else 'd'}\t{t}\n"
                                                  for t in test_texts[:200]), encoding="utf-8")
    out = tmp_path / "plots"
    assert main(["plot", "--run", str(trained_run), "--data", str(data), "--text-column", "sentence",
                 "--label-column", "label", "--out", str(out)]) == 0
    for name in ("training.png", "kl_per_dimension.png", "latent_pca.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert main(["plot", "--out", str(out)]) == 2  # nothing to plot
    assert main(["plot", "--run", str(trained_run), "--data", str(data), "--text-column", "sentence",
                 "--label-column", "missing", "--out", str(out)]) == 2


def test_principal_components_recover_the_direction_of_largest_variance():
    from sentvae.plot import principal_components

    generator = torch.Generator().manual_seed(0)
    points = torch.randn(500, 3, generator=generator) * torch.tensor([0.1, 5.0, 1.0])
    projected = principal_components(points)
    assert projected.shape == (500, 2)
    first = torch.corrcoef(torch.stack([projected[:, 0], points[:, 1]]))[0, 1].abs()
    assert first > 0.99

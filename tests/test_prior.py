"""The fitted prior: Gaussian mixtures with diagonal or full covariances, EM, choice, files."""

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

from sentvae.errors import ArgumentError, CheckpointError
from sentvae.prior import GaussianMixture, choose_mixture, fit_mixture, standard_normal_log_prob


def correlated_codes(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n codes from two well separated 3-d Gaussians with correlated dimensions, and the
    covariance both share."""
    generator = torch.Generator().manual_seed(seed)
    scale_tril = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [-0.5, 0.2, 0.4]])
    means = torch.tensor([[-4.0, 0.0, 1.0], [4.0, 2.0, -1.0]])
    which = (torch.rand(n, generator=generator) < 0.3).long()  # 30% from the first component
    codes = means[1 - which] + torch.randn(n, 3, generator=generator) @ scale_tril.T
    return codes, scale_tril @ scale_tril.T


def random_mixture(covariance: str, k: int = 3, dim: int = 4, seed: int = 0) -> GaussianMixture:
    generator = torch.Generator().manual_seed(seed)
    log_weights = torch.randn(k, generator=generator, dtype=torch.float64).log_softmax(0)
    means = torch.randn(k, dim, generator=generator, dtype=torch.float64) * 2
    if covariance == "diagonal":
        return GaussianMixture(log_weights, means, log_vars=torch.randn(k, dim, generator=generator,
                                                                        dtype=torch.float64) * 0.5)
    lower = torch.randn(k, dim, dim, generator=generator, dtype=torch.float64).tril(-1) * 0.5
    diagonal = torch.rand(k, dim, generator=generator, dtype=torch.float64) + 0.3
    return GaussianMixture(log_weights, means, scale_tril=lower + torch.diag_embed(diagonal))


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_log_prob_matches_torch_distributions(covariance):
    mixture = random_mixture(covariance)
    if covariance == "diagonal":
        components = Independent(Normal(mixture.means, (0.5 * mixture.log_vars).exp()), 1)
    else:
        components = MultivariateNormal(mixture.means, scale_tril=mixture.scale_tril)
    reference = MixtureSameFamily(Categorical(logits=mixture.log_weights), components)
    z = torch.randn(50, 4, dtype=torch.float64) * 3
    torch.testing.assert_close(mixture.log_prob(z), reference.log_prob(z))
    assert mixture.log_prob(z.view(5, 10, 4)).shape == (5, 10)


def test_full_log_prob_is_the_same_in_any_number_of_row_chunks(monkeypatch):
    import sentvae.prior as prior

    mixture, z = random_mixture("full"), torch.randn(37, 4, dtype=torch.float64)
    whole = mixture.log_prob(z)
    monkeypatch.setattr(prior, "ROW_CHUNK_ELEMENTS", 3 * 4 * 5)  # five rows at a time
    torch.testing.assert_close(mixture.log_prob(z), whole)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_samples_follow_the_mixture(covariance):
    mixture = random_mixture(covariance, k=2)
    samples = mixture.sample(40_000, torch.Generator().manual_seed(0)).double()
    assert samples.dtype == torch.float64 and samples.shape == (40_000, 4)
    weights = mixture.log_weights.exp()
    mean = (weights.unsqueeze(1) * mixture.means).sum(0)
    torch.testing.assert_close(samples.mean(0), mean, atol=0.08, rtol=0)
    # the samples are likelier under their mixture than under another one with the same means
    other = GaussianMixture(mixture.log_weights, mixture.means, log_vars=torch.zeros(2, 4, dtype=torch.float64))
    assert mixture.log_prob(samples).mean() > other.log_prob(samples).mean()


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_scaled_samples_keep_each_draw_s_component_and_shrink_its_offset(covariance):
    mixture = random_mixture(covariance, k=3)
    whole = mixture.sample(500, torch.Generator().manual_seed(4)).double()
    half = mixture.sample(500, torch.Generator().manual_seed(4), scale=0.5).double()
    # the same draws (component and noise), their offset from the component's mean halved:
    # half = mean + (whole - mean) / 2, so 2 * half - whole is a component mean for every draw
    centres = 2 * half - whole  # (500, dim)
    distance = torch.cdist(centres, mixture.means).min(1).values
    assert distance.max() < 1e-4 and (half - whole).abs().max() > 0.1
    assert torch.equal(mixture.sample(7, torch.Generator().manual_seed(1), scale=1.0),
                       mixture.sample(7, torch.Generator().manual_seed(1)))


def test_full_covariance_em_recovers_correlated_components():
    codes, covariance = correlated_codes(6000)
    mixture = fit_mixture(codes, 2, covariance="full", seed=0)
    order = mixture.means[:, 0].argsort()  # the component at x = -4 first
    torch.testing.assert_close(mixture.means[order].float(), torch.tensor([[-4.0, 0.0, 1.0], [4.0, 2.0, -1.0]]),
                               atol=0.1, rtol=0)
    torch.testing.assert_close(mixture.log_weights[order].exp().float(), torch.tensor([0.3, 0.7]), atol=0.02,
                               rtol=0)
    for k in range(2):
        fitted = (mixture.scale_tril[k] @ mixture.scale_tril[k].T).float()
        torch.testing.assert_close(fitted, covariance, atol=0.08, rtol=0)


def test_em_does_not_lose_likelihood_from_one_iteration_to_the_next():
    codes, _ = correlated_codes(2000, seed=1)
    for covariance in ("diagonal", "full"):
        scores = [float(fit_mixture(codes, 4, iterations=n, covariance=covariance).log_prob(codes.double()).mean())
                  for n in (1, 2, 4, 8, 16)]
        assert all(later >= earlier - 1e-9 for earlier, later in zip(scores, scores[1:])), (covariance, scores)
        assert scores[-1] > scores[0] + 0.01, (covariance, scores)


def test_choose_mixture_prefers_full_covariances_for_correlated_codes():
    train_codes, _ = correlated_codes(3000, seed=2)
    valid_codes, _ = correlated_codes(1000, seed=3)
    mixture, scores = choose_mixture(train_codes, valid_codes, choices=(1, 2, 4), full_choices=(1, 2))
    assert set(scores) == {"1 diagonal", "2 diagonal", "4 diagonal", "1 full", "2 full"}
    assert mixture.label == "2 full" and mixture.covariance == "full"
    assert scores["2 full"] == max(scores.values())
    assert scores["2 full"] > scores["4 diagonal"] + 0.3  # correlation is worth more than components
    assert scores["2 full"] > float(standard_normal_log_prob(valid_codes.double()).mean())


def test_choose_mixture_keeps_diagonal_covariances_for_independent_codes():
    generator = torch.Generator().manual_seed(4)
    train_codes, valid_codes = torch.randn(3000, 6, generator=generator), torch.randn(500, 6, generator=generator)
    mixture, scores = choose_mixture(train_codes, valid_codes, choices=(1,), full_choices=(1,))
    # both fit N(0, I); the full one has 15 more numbers to over-fit with, so it scores no better
    assert scores["1 full"] <= scores["1 diagonal"] + 1e-3
    truth = float(standard_normal_log_prob(valid_codes.double()).mean())  # what generated them
    assert mixture.components == 1 and abs(scores["1 diagonal"] - truth) < 0.02


def test_choose_mixture_skips_more_components_than_codes_and_refuses_none():
    codes = torch.randn(3, 2)
    _, scores = choose_mixture(codes, codes, choices=(1, 2, 8), full_choices=(4,))
    assert set(scores) == {"1 diagonal", "2 diagonal"}
    with pytest.raises(ArgumentError, match="no codes"):
        choose_mixture(codes, codes, choices=(8,), full_choices=())


def test_fit_mixture_refuses_bad_arguments():
    with pytest.raises(ArgumentError, match="at least 5 codes"):
        fit_mixture(torch.randn(3, 2), 5)
    with pytest.raises(ArgumentError, match="covariance"):
        fit_mixture(torch.randn(30, 2), 2, covariance="spherical")
    with pytest.raises(ValueError, match="either"):
        GaussianMixture(torch.zeros(1), torch.zeros(1, 2))


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_save_and_load_round_trip(tmp_path, covariance):
    mixture = random_mixture(covariance)
    mixture.save(tmp_path / "prior.safetensors")
    again = GaussianMixture.load(tmp_path / "prior.safetensors", latent_dim=4)
    assert again.label == mixture.label == f"3 {covariance}"
    z = torch.randn(10, 4, dtype=torch.float64)
    assert torch.equal(again.log_prob(z), mixture.log_prob(z))


def test_load_names_the_file_that_is_not_a_prior_or_does_not_fit(tmp_path):
    bad = tmp_path / "prior.safetensors"
    bad.write_bytes(b"not safetensors at all")
    with pytest.raises(CheckpointError, match="prior.safetensors: not a sentvae prior"):
        GaussianMixture.load(bad)
    random_mixture("full").save(bad)
    with pytest.raises(CheckpointError, match="latent_dim 8"):
        GaussianMixture.load(bad, latent_dim=8)

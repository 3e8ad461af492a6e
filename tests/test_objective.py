"""Objective: closed-form KL, schedules' endpoints, free bits, learning-rate schedule."""

import math

import pytest
import torch

from sentvae.config import TrainConfig
from sentvae.objective import (cyclical_schedule, free_bits_kl, gaussian_kl, kl_weight, learning_rate,
                               linear_schedule, logistic_schedule, prior_mmd, vae_loss, validation_loss)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 5)
    assert torch.allclose(gaussian_kl(zeros, zeros), torch.zeros(3, 5))
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    assert (gaussian_kl(mu, logvar) > 0).all()


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p), atol=1e-5)


def test_free_bits_floors_each_dimension_of_the_batch_mean():
    kl = torch.tensor([[0.1, 2.0], [0.3, 4.0]])  # batch means: 0.2, 3.0
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(3.2)
    assert free_bits_kl(kl, 0.5).item() == pytest.approx(3.5)
    grad_kl = kl.clone().requires_grad_()
    free_bits_kl(grad_kl, 0.5).backward()
    assert grad_kl.grad[:, 0].abs().sum() == 0 and grad_kl.grad[:, 1].abs().sum() > 0


def test_linear_schedule_endpoints():
    assert linear_schedule(0, 100, 0.8) == 0.0
    assert linear_schedule(50, 100, 0.8) == pytest.approx(0.4)
    assert linear_schedule(100, 100, 0.8) == pytest.approx(0.8)
    assert linear_schedule(10_000, 100, 0.8) == pytest.approx(0.8)


def test_logistic_schedule_endpoints():
    assert logistic_schedule(0, k=0.01, x0=1000) < 1e-4
    assert logistic_schedule(1000, k=0.01, x0=1000) == pytest.approx(0.5)
    assert logistic_schedule(5000, k=0.01, x0=1000) > 1 - 1e-4


def test_cyclical_schedule_endpoints_in_every_cycle():
    total, cycles = 1000, 4  # period 250: zero for 50 steps, rise over 125, hold
    for start in range(0, total, 250):
        assert cyclical_schedule(start, total, cycles, rise=0.5, zero=0.2) == 0.0
        assert cyclical_schedule(start + 49, total, cycles, rise=0.5, zero=0.2) == 0.0
        assert cyclical_schedule(start + 175, total, cycles, rise=0.5, zero=0.2) == pytest.approx(1.0)
        assert cyclical_schedule(start + 249, total, cycles, rise=0.5, zero=0.2) == pytest.approx(1.0)
    assert 0 < cyclical_schedule(100, total, cycles, rise=0.5, zero=0.2) < 1


@pytest.mark.parametrize("name", ["constant", "linear", "logistic", "cyclical"])
def test_kl_weight_dispatch_reaches_beta(name):
    cfg = TrainConfig(kl_schedule=name, beta=0.7, kl_warmup_steps=10, logistic_x0=10, logistic_k=1.0,
                      cycles=1, cycle_rise=0.5)
    assert kl_weight(99, cfg, total_steps=100) == pytest.approx(0.7, abs=1e-3)


def test_learning_rate_warms_up_and_decays_to_the_floor():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, min_lr_ratio=0.1, lr_schedule="cosine")
    assert learning_rate(0, cfg, 110) == pytest.approx(1e-4)
    assert learning_rate(9, cfg, 110) == pytest.approx(1e-3)
    assert learning_rate(110, cfg, 110) == pytest.approx(1e-4)
    values = [learning_rate(s, cfg, 110) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert math.isclose(learning_rate(50, TrainConfig(lr=2e-3, warmup_steps=0, lr_schedule="constant"), 100), 2e-3)


@pytest.mark.parametrize("name", ["linear", "logistic", "cyclical"])
def test_a_time_budget_compresses_the_kl_schedule_so_beta_is_reached(name):
    """WikiText-2 valid, 7 minutes: 223 steps fitted while the warm-up was 2,000 steps. Under a
    budget (horizon < total steps) the ramp ends by half the expected steps and cycles span them."""
    cfg = TrainConfig(kl_schedule=name, beta=1.0, kl_warmup_steps=2000, logistic_x0=2500,
                      logistic_k=0.0025, cycles=2, cycle_rise=0.5)
    total, horizon = 10_000, 223
    unbudgeted = kl_weight(horizon - 1, cfg, total_steps=total)
    assert unbudgeted < 0.5  # the failure the budget must fix (cyclical: mid-rise of cycle 1)
    assert kl_weight(horizon - 1, cfg, total_steps=total, horizon=horizon) == pytest.approx(1.0, abs=0.02)
    if name != "cyclical":  # a ramp: at most half of the expected steps, then beta stays
        assert kl_weight(horizon // 2 + 1, cfg, total_steps=total, horizon=horizon) == pytest.approx(1.0, abs=0.02)
        assert kl_weight(10, cfg, total_steps=total, horizon=horizon) < 0.5


@pytest.mark.parametrize("name", ["constant", "linear", "logistic", "cyclical"])
def test_without_a_binding_budget_the_schedule_is_unchanged(name):
    cfg = TrainConfig(kl_schedule=name, beta=0.8, kl_warmup_steps=300, logistic_x0=200,
                      logistic_k=0.01, cycles=3)
    for step in (0, 50, 150, 299, 600, 999):
        expected = kl_weight(step, cfg, total_steps=1000)
        assert kl_weight(step, cfg, total_steps=1000, horizon=1000) == expected
        assert kl_weight(step, cfg, total_steps=1000, horizon=5000) == expected
    short_ramp = TrainConfig(kl_schedule="linear", kl_warmup_steps=50)
    assert kl_weight(25, short_ramp, total_steps=1000, horizon=200) == kl_weight(25, short_ramp, 1000)


def test_a_target_rate_pushes_the_kl_towards_it_from_both_sides():
    """rec + beta * |KL - C|: below C the gradient raises the KL, above C it lowers it."""
    rec = torch.zeros(4)
    for mu_value, sign in ((0.1, -1.0), (3.0, 1.0)):  # KL per sentence 0.02 (< C) and 18 (> C)
        mu = torch.full((4, 4), mu_value, requires_grad=True)
        loss = vae_loss(rec, gaussian_kl(mu, torch.zeros(4, 4)), beta=1.0, kl_target=5.0)
        loss.backward()
        assert torch.all(torch.sign(mu.grad) == sign)  # gradient descent moves mu away from / to 0
    mu = torch.full((2, 3), 0.5)
    plain = vae_loss(rec[:2], gaussian_kl(mu, torch.zeros(2, 3)), beta=0.5)
    assert vae_loss(rec[:2], gaussian_kl(mu, torch.zeros(2, 3)), beta=0.5, kl_target=0.0) == plain


def test_the_mmd_to_the_prior_is_near_zero_for_prior_codes_and_grows_with_the_mismatch():
    generator = torch.Generator().manual_seed(0)
    draw = lambda: torch.randn(256, 8, generator=generator)  # noqa: E731
    matched = [float(prior_mmd(draw(), draw())) for _ in range(5)]
    assert abs(sum(matched) / 5) < 0.01  # unbiased: about 0, of either sign
    shifted = float(prior_mmd(draw() + 1.0, draw()))
    narrow = float(prior_mmd(0.1 * draw(), draw()))  # a collapsed, deterministic-looking code cloud
    assert shifted > 0.1 and narrow > 0.1
    assert float(prior_mmd(draw() + 2.0, draw())) > shifted
    assert float(prior_mmd(torch.zeros(1, 8), draw()[:1])) == 0.0  # one row: no estimate


def test_the_mmd_term_pulls_the_codes_towards_the_prior():
    codes = (torch.randn(64, 4, generator=torch.Generator().manual_seed(1)) + 3.0).requires_grad_()
    prior = torch.randn(64, 4, generator=torch.Generator().manual_seed(2))
    loss = vae_loss(torch.zeros(64), None, beta=1.0, mmd=prior_mmd(codes, prior), mmd_weight=10.0)
    loss.backward()
    assert float(codes.grad.mean()) > 0  # gradient descent moves the codes from +3 towards 0
    assert float(loss.detach()) == pytest.approx(10.0 * float(prior_mmd(codes.detach(), prior)))
    assert vae_loss(torch.zeros(64), None, beta=1.0, mmd=prior_mmd(codes, prior), mmd_weight=0.0) == 0


def test_the_validation_loss_is_the_bound_at_beta_1_and_the_run_s_own_objective_otherwise():
    metrics = {"neg_elbo_per_sentence": 50.0, "rec_per_sentence": 20.0, "kl_per_sentence": 30.0}
    assert validation_loss(metrics, TrainConfig()) == 50.0
    assert validation_loss(metrics, TrainConfig(beta=0.0, kl_schedule="constant")) == 20.0  # autoencoder
    assert validation_loss(metrics, TrainConfig(beta=0.5)) == 35.0
    assert validation_loss(metrics, TrainConfig(kl_target=40.0)) == 30.0  # 20 + |30 - 40|
    assert validation_loss(metrics, TrainConfig(kl_target=20.0)) == 30.0  # 20 + |30 - 20|


def test_an_autoencoder_s_best_checkpoint_is_its_best_reconstruction_not_its_lowest_kl():
    # its KL grows without bound, so the lowest -ELBO is an early, poorly reconstructing checkpoint
    early = {"neg_elbo_per_sentence": 60.0, "rec_per_sentence": 40.0, "kl_per_sentence": 20.0}
    late = {"neg_elbo_per_sentence": 505.0, "rec_per_sentence": 5.0, "kl_per_sentence": 500.0}
    autoencoder = TrainConfig(beta=0.0, kl_schedule="constant")
    assert min((early, late), key=lambda m: validation_loss(m, autoencoder)) is late
    assert min((early, late), key=lambda m: validation_loss(m, TrainConfig())) is early


def test_the_bag_of_words_term_adds_its_weighted_mean_and_nothing_at_weight_0():
    rec, bow = torch.tensor([3.0, 5.0]), torch.tensor([10.0, 20.0])
    assert float(vae_loss(rec, None, 1.0, bow=bow, bow_weight=0.5)) == 4.0 + 0.5 * 15.0
    assert float(vae_loss(rec, None, 1.0, bow=bow, bow_weight=0.0)) == 4.0

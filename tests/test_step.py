"""One optimisation step (sentvae/step.py): train_step, its noise, the optimizer, bf16 detection,
and one step of every shipped config."""

from __future__ import annotations

import math

import pytest
import torch

from sentvae.config import ModelConfig, TrainConfig, load_config, shipped_configs
from sentvae.data import collate
from sentvae.model import SentenceVAE
from sentvae.objective import gaussian_kl, kl_weight, learning_rate, vae_loss
from sentvae.step import (NonFiniteStep, StepResult, build_optimizer, native_bf16, step_noise,
                          train_step)

V, Z = 50, 4
SENTENCES = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17], [18, 19, 20, 21],
             [22, 23, 24, 25, 26, 27, 28], [29, 30], [31, 32, 33, 34, 35]]


def tiny(**overrides) -> SentenceVAE:
    torch.manual_seed(0)
    settings = dict(vocab_size=V, embed_dim=16, encoder_hidden_dim=16, decoder_hidden_dim=16,
                    latent_dim=Z, word_dropout=0.0, embed_dropout=0.0, output_dropout=0.0)
    return SentenceVAE(ModelConfig(**{**settings, **overrides})).train()


def batch(sentences=SENTENCES, latent_dim: int = Z, seed: int = 0, step: int = 0):
    tokens, lengths = collate(sentences)
    noise = step_noise(seed, step, len(sentences), latent_dim, tokens.size(1) - 1)
    return tokens, lengths, noise


def parameters(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def assert_unchanged(model, before: dict[str, torch.Tensor]) -> None:
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), before[name]), f"{name} changed"


# --- train_step ----------------------------------------------------------------------------------

def test_one_step_returns_finite_measurements_and_moves_every_parameter():
    model = tiny()
    optimizer = build_optimizer(model, lr=1e-2)
    tokens, lengths, noise = batch()
    before = parameters(model)
    with torch.no_grad():  # the same forward pass (no dropout, the same noise), before the update
        out = model(tokens, lengths, eps=noise[0], drop_uniform=noise[1])
        expected = vae_loss(out.rec, gaussian_kl(out.mu, out.logvar), 0.5, 0.1)
    result = train_step(model, optimizer, tokens, lengths, noise, beta=0.5, lr=0.02, free_bits=0.1)

    assert isinstance(result, StepResult)
    assert result.loss.shape == () and result.grad_norm.shape == ()
    assert result.rec.shape == (len(SENTENCES),) and result.kl.shape == (len(SENTENCES), Z)
    for value in (result.loss, result.rec, result.kl, result.grad_norm):
        assert torch.isfinite(value).all() and not value.requires_grad
    assert (result.rec > 0).all() and (result.kl >= 0).all() and float(result.grad_norm) > 0
    assert result.tokens == int(lengths.sum())
    assert torch.allclose(result.loss, expected, atol=1e-6)
    assert all(group["lr"] == 0.02 for group in optimizer.param_groups)  # the step's learning rate
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert not torch.equal(p.detach(), before[name]), f"{name} did not move"


def test_a_language_model_step_has_no_kl():
    model = tiny(latent_dim=0)
    optimizer = build_optimizer(model)
    tokens, lengths, noise = batch(latent_dim=0)
    assert noise[0].shape == (len(SENTENCES), 0)
    result = train_step(model, optimizer, tokens, lengths, noise, beta=1.0, lr=1e-3)
    assert result.kl is None and torch.isfinite(result.loss)
    assert torch.allclose(result.loss, result.rec.mean())


def test_grad_clip_caps_the_update_but_reports_the_norm_before_clipping():
    model = tiny()
    optimizer = build_optimizer(model)
    tokens, lengths, noise = batch()
    result = train_step(model, optimizer, tokens, lengths, noise, beta=1.0, lr=1e-3, grad_clip=1e-3)
    clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert float(result.grad_norm) > 1e-2  # what the batch's gradient measured
    assert float(clipped) == pytest.approx(1e-3, rel=1e-3)  # what the optimizer was given


def test_loss_scale_scales_the_gradient_not_the_reported_loss():
    results, grads = [], []
    for scale in (1.0, 0.25):
        model = tiny()
        tokens, lengths, noise = batch()
        results.append(train_step(model, build_optimizer(model), tokens, lengths, noise, beta=1.0,
                                  lr=1e-3, loss_scale=scale))
        grads.append(model.decoder.output.weight.grad.clone())
    assert torch.equal(results[0].loss, results[1].loss)
    assert float(results[1].grad_norm) == pytest.approx(0.25 * float(results[0].grad_norm), rel=1e-5)
    assert torch.allclose(grads[1], 0.25 * grads[0], atol=1e-7)


def test_the_last_steps_gradients_are_gone_before_the_next_forward_pass():
    model = tiny()
    optimizer = build_optimizer(model, lr=1e-2)
    tokens, lengths, noise = batch()
    train_step(model, optimizer, tokens, lengths, noise, beta=0.5, lr=0.02)
    assert all(p.grad is not None for p in model.parameters())  # left for the caller to read
    held = []
    hook = model.register_forward_pre_hook(
        lambda module, args: held.append(sum(p.grad is not None for p in module.parameters())))
    train_step(model, optimizer, tokens, lengths, noise, beta=0.5, lr=0.02)
    hook.remove()
    assert held == [0]  # the forward pass's peak does not also hold a gradient per parameter


def test_a_nan_loss_raises_before_anything_is_updated(monkeypatch):
    import sentvae.step as step

    model = tiny()
    optimizer = build_optimizer(model, lr=1e-2)
    tokens, lengths, noise = batch()
    train_step(model, optimizer, tokens, lengths, noise, beta=1.0, lr=1e-2)  # a good step first
    before, state = parameters(model), {k: {n: t.clone() for n, t in v.items()}
                                        for k, v in optimizer.state.items()}
    monkeypatch.setattr(step, "vae_loss", lambda *args: vae_loss(*args) * float("nan"))
    for check_loss in (True, False):  # caught on the loss, or (DDP) on the gradient norm
        with pytest.raises(NonFiniteStep, match="nan"):
            train_step(model, optimizer, tokens, lengths, noise, beta=1.0, lr=1e-2,
                       check_loss=check_loss)
        assert_unchanged(model, before)
        for key, saved in state.items():  # Adam's moments and step count are untouched too
            for name, value in saved.items():
                assert torch.equal(optimizer.state[key][name], value), name


def test_nan_weights_raise_non_finite_step_and_stay_as_they_were():
    model = tiny()
    optimizer = build_optimizer(model)
    with torch.no_grad():
        model.decoder.output.bias[7] = float("nan")
    before = parameters(model)
    tokens, lengths, noise = batch()
    with pytest.raises(NonFiniteStep, match="loss"):
        train_step(model, optimizer, tokens, lengths, noise, beta=1.0, lr=1e-3)
    for name, p in model.named_parameters():  # NaN compares unequal: compare the bits
        assert torch.equal(p.detach().view(torch.int32), before[name].view(torch.int32)), name
    assert not optimizer.state


def test_the_mmd_term_adds_to_the_loss_with_its_own_prior_draws():
    tokens, lengths = collate(SENTENCES)
    plain = step_noise(0, 0, len(SENTENCES), Z, tokens.size(1) - 1)
    noise = step_noise(0, 0, len(SENTENCES), Z, tokens.size(1) - 1, prior_draws=True)
    assert plain.prior is None and noise.prior.shape == (len(SENTENCES), Z)
    assert torch.equal(plain.eps, noise.eps) and torch.equal(plain.word_uniform, noise.word_uniform)
    without = train_step(tiny(), build_optimizer(tiny()), tokens, lengths, noise, beta=1.0, lr=0.0)
    model = tiny()
    result = train_step(model, build_optimizer(model), tokens, lengths, noise, beta=1.0, lr=0.0,
                        mmd_weight=5.0)
    assert without.mmd is None and float(result.mmd) != 0.0
    assert torch.allclose(result.loss, without.loss + 5.0 * result.mmd, atol=1e-5)
    assert noise.rows(slice(0, 2)).prior.shape == (2, Z)  # a process's share of the draws


def test_step_noise_is_a_function_of_seed_and_step():
    a = step_noise(3, 10, 6, Z, 9)
    assert a[0].shape == (6, Z) and a[1].shape == (6, 9)
    assert a.encoder_uniform is None
    assert all(torch.equal(x, y) for x, y in zip(a[:2], step_noise(3, 10, 6, Z, 9)))
    assert not torch.equal(a[0], step_noise(3, 11, 6, Z, 9)[0])
    assert not torch.equal(a[0], step_noise(4, 10, 6, Z, 9)[0])
    assert bool(((a[1] >= 0) & (a[1] < 1)).all())


# --- the optimizer -------------------------------------------------------------------------------

def test_build_optimizer_defaults_to_the_configs_weight_decay():
    model = tiny()
    model.encoder.embedding.weight.requires_grad_(False)  # frozen parameters are left out
    optimizer = build_optimizer(model)
    assert TrainConfig().weight_decay == 0.0
    assert [g["weight_decay"] for g in optimizer.param_groups] == [TrainConfig().weight_decay]
    assert optimizer.param_groups[0]["lr"] == 1e-3
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == trainable
    assert build_optimizer(model, weight_decay=0.05).param_groups[0]["weight_decay"] == 0.05


def test_the_fused_optimizer_makes_the_same_updates_as_the_default_loop():
    cfg = ModelConfig(vocab_size=50, embed_dim=16, encoder_hidden_dim=16, decoder_hidden_dim=16,
                      latent_dim=4, word_dropout=0.0, embed_dropout=0.0, output_dropout=0.0)
    torch.manual_seed(0)
    fused_model = SentenceVAE(cfg).train()
    loop_model = SentenceVAE(cfg).train()
    initial = {name: p.detach().clone() for name, p in fused_model.named_parameters()}
    loop_model.load_state_dict(fused_model.state_dict())
    fused = build_optimizer(fused_model, lr=1e-2, weight_decay=0.01)
    loop = torch.optim.AdamW(loop_model.parameters(), lr=1e-2, weight_decay=0.01, foreach=False)
    assert fused.defaults["fused"] and not loop.defaults["fused"]
    tokens = torch.randint(4, 50, (6, 9))
    tokens[:, 0] = 2  # <bos>
    lengths = torch.tensor([8, 7, 5, 8, 3, 6])
    for step in range(6):
        eps = torch.randn(6, 4)
        for model, optimizer in ((fused_model, fused), (loop_model, loop)):
            out = model(tokens, lengths, eps=eps)
            loss = vae_loss(out.rec, gaussian_kl(out.mu, out.logvar), 1.0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        for (name, a), b in zip(fused_model.named_parameters(), loop_model.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
            assert float((a - initial[name]).abs().max()) > 1e-3, f"{name} did not move"


def test_native_bf16_is_a_yes_or_no_for_every_device_type():
    assert native_bf16(torch.device("cpu")) in (True, False)
    assert native_bf16(torch.device("meta")) is False


# --- every shipped config takes a step -----------------------------------------------------------

@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_builds_a_model_that_takes_a_finite_step(name):
    model_cfg, train_cfg = load_config(name)
    cutoffs = model_cfg.adaptive_softmax_cutoffs
    model_cfg.vocab_size = max(300, cutoffs[-1] + 100) if cutoffs else 300  # the tokenizer's job
    model_cfg.validate()
    torch.manual_seed(train_cfg.seed)
    model = SentenceVAE(model_cfg).train()
    optimizer = build_optimizer(model, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    generator = torch.Generator().manual_seed(0)
    sentences = [torch.randint(4, model_cfg.vocab_size, (n,), generator=generator).tolist()
                 for n in (3, 7, 5, 1)]
    tokens, lengths = collate(sentences)
    latent_dim = model_cfg.latent_dim if model_cfg.has_latent else 0
    noise = step_noise(train_cfg.seed, 0, len(sentences), latent_dim, tokens.size(1) - 1)
    step = max(train_cfg.kl_warmup_steps // 2, 1)  # mid-way up the KL schedule: 0 < beta
    total = 10 * step
    beta = kl_weight(step, train_cfg, total)
    assert 0 < beta <= train_cfg.beta
    before = parameters(model)
    result = train_step(model, optimizer, tokens, lengths, noise, beta=beta,
                        lr=learning_rate(step, train_cfg, total), free_bits=train_cfg.free_bits,
                        kl_target=train_cfg.kl_target, grad_clip=train_cfg.grad_clip)
    assert math.isfinite(float(result.loss)) and math.isfinite(float(result.grad_norm))
    assert result.loss.shape == () and result.rec.shape == (4,)
    assert (result.kl is None) == (not model_cfg.has_latent)
    moved = 0
    for param_name, p in model.named_parameters():
        if not p.requires_grad or p.grad is None:
            assert cutoffs and ".tail." in param_name, f"{param_name} got no gradient"
            continue  # an adaptive-softmax cluster that no target of this batch falls in
        assert not torch.equal(p.detach(), before[param_name]), f"{name}: {param_name} did not move"
        moved += 1
    assert moved >= len(before) - 2 * len(cutoffs)

"""The in-place cross-entropy: F.cross_entropy's values and gradients, one (N, V) tensor held."""

import pytest
import torch
import torch.nn.functional as F

from sentvae import cross_entropy as module
from sentvae.cross_entropy import cross_entropy


@pytest.mark.parametrize("rows", [1, 7, 2500])  # 2,500 rows: three chunks of the log-normaliser
def test_values_and_gradients_equal_torch_cross_entropy(rows):
    torch.manual_seed(rows)
    hidden, vocab = 16, 50
    weight = torch.randn(vocab, hidden, dtype=torch.float64, requires_grad=True)
    inputs = torch.randn(rows, hidden, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(vocab, (rows,))
    upstream = torch.randn(rows, dtype=torch.float64)  # any incoming gradient, not only a mean's

    ours = cross_entropy(inputs @ weight.T * 3, targets)
    (ours * upstream).sum().backward()
    ours_grads = inputs.grad.clone(), weight.grad.clone()
    inputs.grad = weight.grad = None
    theirs = F.cross_entropy(inputs @ weight.T * 3, targets, reduction="none")
    (theirs * upstream).sum().backward()
    assert torch.allclose(ours, theirs, atol=1e-12)
    assert torch.allclose(ours_grads[0], inputs.grad, atol=1e-10)
    assert torch.allclose(ours_grads[1], weight.grad, atol=1e-10)


def test_a_second_backward_pass_is_refused_rather_than_wrong():
    logits = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    nll = cross_entropy(logits * 1.0, torch.tensor([0, 6, 3, 3, 1])).sum()
    nll.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        nll.backward()


def test_no_gradient_path_is_the_same_and_keeps_the_logits(monkeypatch):
    monkeypatch.setattr(module, "CHUNK_ROWS", 3)
    torch.manual_seed(1)
    logits = torch.randn(10, 9) * 5
    targets = torch.randint(9, (10,))
    kept = logits.clone()
    with torch.no_grad():
        ours = cross_entropy(logits, targets)
    assert torch.allclose(ours, F.cross_entropy(kept, targets, reduction="none"), atol=1e-6)
    assert torch.equal(logits, kept)
    assert torch.allclose(cross_entropy(logits, targets), ours)  # no requires_grad: no graph either


def test_extreme_logits_stay_finite():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], requires_grad=True)
    targets = torch.tensor([1, 2])
    nll = cross_entropy(logits * 1.0, targets)
    nll.sum().backward()
    assert torch.isfinite(nll).all() and torch.isfinite(logits.grad).all()
    nll = nll.detach()
    assert float(nll[0]) == pytest.approx(2e4) and float(nll[1]) == pytest.approx(0.0)


@pytest.mark.parametrize("cutoffs", [[10], [10, 30]])
def test_the_adaptive_softmax_cross_entropy_equals_torchs_layer(cutoffs):
    from sentvae.cross_entropy import adaptive_cross_entropy

    torch.manual_seed(len(cutoffs))
    layer = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 60, cutoffs=cutoffs, div_value=2.0, head_bias=True)
    hidden = torch.randn(300, 16, requires_grad=True)
    targets = torch.randint(60, (300,))
    targets[:3] = torch.tensor([0, 59, cutoffs[-1]])  # the first id, the last, a cluster's first
    upstream = torch.randn(300)

    ours = adaptive_cross_entropy(layer, hidden, targets)
    (ours * upstream).sum().backward()
    ours_grads = [hidden.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    hidden.grad = None
    layer.zero_grad(set_to_none=True)
    theirs = -layer(hidden, targets).output
    (theirs * upstream).sum().backward()
    theirs_grads = [hidden.grad] + [p.grad for p in layer.parameters()]
    assert ours.dtype == torch.float32 and ours.shape == (300,)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    for mine, reference in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(mine, reference, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # evaluation: the same values, no graph
        torch.testing.assert_close(adaptive_cross_entropy(layer, hidden, targets), theirs.detach(),
                                   atol=1e-5, rtol=1e-5)


def test_an_adaptive_softmax_cluster_no_target_falls_in_scores_right_and_still_gets_a_gradient():
    # DistributedDataParallel needs a gradient for every parameter on every rank: a rank whose
    # rows have no word of a cluster must still give that cluster's parameters one (zeros).
    from sentvae.cross_entropy import adaptive_cross_entropy

    layer = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 40, cutoffs=[10, 20], div_value=2.0)
    hidden, targets = torch.randn(5, 8), torch.tensor([1, 2, 3, 25, 39])  # none in [10, 20)
    nll = adaptive_cross_entropy(layer, hidden, targets)
    torch.testing.assert_close(nll, -layer(hidden, targets).output, atol=1e-5, rtol=1e-5)
    nll.sum().backward()
    for parameter in layer.tail[0].parameters():
        assert parameter.grad is not None and torch.count_nonzero(parameter.grad) == 0
    assert all(torch.count_nonzero(p.grad) > 0 for p in layer.tail[1].parameters())


@pytest.mark.parametrize("uniform", [True, False])  # a mean's incoming gradient, and any other
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_cross_entropy_equals_projection_then_torch_cross_entropy(monkeypatch, uniform, with_bias):
    from sentvae.cross_entropy import linear_cross_entropy

    monkeypatch.setattr(module, "CHUNK_ROWS", 4)  # 11 rows: three chunks, the last one short
    torch.manual_seed(int(uniform) + 2 * int(with_bias))
    rows, hidden_dim, vocab = 11, 6, 13
    hidden = torch.randn(rows, hidden_dim, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(vocab, hidden_dim, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(vocab, dtype=torch.float64, requires_grad=True) if with_bias else None
    targets = torch.randint(vocab, (rows,))
    upstream = torch.full((rows,), 0.3, dtype=torch.float64) if uniform else torch.randn(rows, dtype=torch.float64)
    leaves = [hidden, weight] + ([bias] if with_bias else [])

    ours = linear_cross_entropy(hidden * 2, weight, bias, targets)
    ours_grads = torch.autograd.grad((ours * upstream).sum(), leaves)
    theirs = F.cross_entropy(F.linear(hidden * 2, weight, bias), targets, reduction="none")
    theirs_grads = torch.autograd.grad((theirs * upstream).sum(), leaves)
    assert torch.allclose(ours, theirs, atol=1e-12)
    for mine, reference in zip(ours_grads, theirs_grads):
        assert torch.allclose(mine, reference, atol=1e-10)


def test_linear_cross_entropy_without_gradients_and_on_no_rows():
    from sentvae.cross_entropy import linear_cross_entropy

    torch.manual_seed(3)
    hidden, weight, bias = torch.randn(5, 4), torch.randn(9, 4), torch.randn(9)
    targets = torch.randint(9, (5,))
    reference = F.cross_entropy(F.linear(hidden, weight, bias), targets, reduction="none")
    with torch.no_grad():
        assert torch.allclose(linear_cross_entropy(hidden, weight, bias, targets), reference, atol=1e-6)
    weight.requires_grad_(True)
    empty = linear_cross_entropy(hidden[:0], weight, bias, targets[:0])
    assert empty.shape == (0,)
    empty.sum().backward()  # no rows: a zero gradient, not an error
    assert torch.equal(weight.grad, torch.zeros_like(weight))


def test_linear_cross_entropy_under_bf16_autocast_matches_the_autocast_projection():
    from sentvae.cross_entropy import linear_cross_entropy

    torch.manual_seed(4)
    hidden = torch.randn(40, 32, requires_grad=True)
    weight = (torch.randn(100, 32) / 6).requires_grad_(True)
    targets = torch.randint(100, (40,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = linear_cross_entropy(hidden, weight, None, targets)
        ours_grads = torch.autograd.grad(ours.mean(), [hidden, weight])
        theirs = cross_entropy(F.linear(hidden, weight).float(), targets)
        theirs_grads = torch.autograd.grad(theirs.mean(), [hidden, weight])
    assert ours.dtype == torch.float32 and ours_grads[1].dtype == torch.float32
    assert torch.allclose(ours, theirs, atol=1e-3)
    for mine, reference in zip(ours_grads, theirs_grads):
        assert torch.allclose(mine, reference, atol=1e-3, rtol=1e-2)
    exact = F.cross_entropy(F.linear(hidden.double(), weight.double()), targets, reduction="none")
    assert (ours.double() - exact).abs().max() < 0.1  # bf16 products, not a different function

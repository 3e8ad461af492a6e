"""The tied adaptive softmax: a normalised distribution, the same NLL and gradients by the training
path (head + the targets' clusters) as by the full log-probabilities."""

import pytest
import torch

from sentvae.tied_adaptive import TiedAdaptiveSoftmax


@pytest.mark.parametrize("cutoffs", [[10], [10, 30]])
def test_the_training_nll_equals_the_full_log_probabilities_with_the_same_gradients(cutoffs):
    torch.manual_seed(len(cutoffs))
    layer = TiedAdaptiveSoftmax(16, 60, cutoffs)
    with torch.no_grad():
        layer.bias.normal_()
        layer.cluster_bias.normal_()
    weight = torch.randn(60, 16, requires_grad=True)
    hidden = torch.randn(300, 16, requires_grad=True)
    targets = torch.randint(60, (300,))
    targets[:3] = torch.tensor([0, 59, cutoffs[-1]])  # the first id, the last, a cluster's first
    upstream = torch.randn(300)

    log_prob = layer.log_prob(hidden, weight)  # (300, 60)
    torch.testing.assert_close(log_prob.exp().sum(-1), torch.ones(300))
    reference = -log_prob.gather(1, targets.unsqueeze(1))[:, 0]
    (reference * upstream).sum().backward()
    reference_grads = [t.grad.clone() for t in (hidden, weight, *layer.parameters())]
    for t in (hidden, weight, *layer.parameters()):
        t.grad = None

    nll = layer.nll(hidden, weight, targets)
    (nll * upstream).sum().backward()
    assert nll.dtype == torch.float32 and nll.shape == (300,)
    torch.testing.assert_close(nll, reference.detach(), atol=1e-5, rtol=1e-5)
    for mine, theirs in zip([t.grad for t in (hidden, weight, *layer.parameters())], reference_grads):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # evaluation: the same values, no graph
        torch.testing.assert_close(layer.nll(hidden, weight, targets), reference.detach(),
                                   atol=1e-5, rtol=1e-5)


def test_a_cluster_no_target_falls_in_is_not_scored_but_its_parameters_get_a_zero_gradient():
    layer = TiedAdaptiveSoftmax(8, 40, [10, 20])
    weight = torch.randn(40, 8, requires_grad=True)
    hidden, targets = torch.randn(5, 8), torch.tensor([1, 2, 3, 25, 39])  # none in [10, 20)
    nll = layer.nll(hidden, weight, targets)
    torch.testing.assert_close(nll, -layer.log_prob(hidden, weight).gather(1, targets.unsqueeze(1))[:, 0])
    nll.sum().backward()
    assert torch.count_nonzero(weight.grad[10:20]) == 0  # its words were never scored
    assert torch.count_nonzero(weight.grad[20:40].abs().sum(-1)) == 20  # the other cluster's all were
    assert layer.bias.grad is not None and torch.count_nonzero(layer.bias.grad[10:20]) == 0
    assert torch.count_nonzero(layer.cluster_weight.grad) > 0  # the head scores both clusters


@pytest.mark.parametrize("cutoffs", [[], [0, 5], [5, 5], [5, 40]])
def test_bad_cutoffs_are_refused(cutoffs):
    with pytest.raises(ValueError, match="cutoffs"):
        TiedAdaptiveSoftmax(8, 40, cutoffs)

import math

import pytest
import torch

from mmfg.models.losses import InfoNCELoss, info_nce
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError


def _lse(*xs):
    return math.log(sum(math.exp(x) for x in xs))


def test_info_nce_hand_computed_2x2():
    # cos(a_i, b_j) = [[1, 0.6], [0, 0.8]], tau = 0.5 -> logits
    # [[2, 1.2], [0, 1.6]]
    a = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # norms do not matter
    b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    rows = [_lse(2, 1.2) - 2, _lse(0, 1.6) - 1.6]
    cols = [_lse(2, 0) - 2, _lse(1.2, 1.6) - 1.6]
    a2b = sum(rows) / 2
    b2a = sum(cols) / 2
    assert info_nce(a, b, 0.5, symmetric=False).item() == pytest.approx(
        a2b, rel=1e-6)
    assert info_nce(a, b, 0.5).item() == pytest.approx(
        0.5 * (a2b + b2a), rel=1e-6)
    loss = MODELS.build(dict(type='InfoNCELoss', temperature=0.5,
                             loss_weight=0.3))
    assert loss(a, b).item() == pytest.approx(0.3 * 0.5 * (a2b + b2a),
                                              rel=1e-6)


def test_info_nce_3x3_matches_loop_reference_and_is_symmetric():
    torch.manual_seed(0)
    a, b = torch.randn(3, 5), torch.randn(3, 5)
    tau = 0.2

    def ref(x, y):  # one row at a time, straight from the definition
        total = 0.0
        for i in range(3):
            sims = [
                float(x[i] @ y[j] / (x[i].norm() * y[j].norm())) / tau
                for j in range(3)
            ]
            total += _lse(*sims) - sims[i]
        return total / 3

    expected = 0.5 * (ref(a, b) + ref(b, a))
    assert info_nce(a, b, tau).item() == pytest.approx(expected, rel=1e-5)
    assert info_nce(b, a, tau).item() == pytest.approx(expected, rel=1e-5)
    assert info_nce(a, b, tau, symmetric=False).item() == pytest.approx(
        ref(a, b), rel=1e-5)
    # perfectly aligned, well separated pairs: loss -> 0
    eye = torch.eye(3)
    assert info_nce(eye, eye, 0.01).item() < 1e-6


def test_info_nce_learnable_temperature_and_errors():
    loss = InfoNCELoss(temperature=0.1, learnable_temperature=True)
    assert loss.temperature.item() == pytest.approx(0.1)
    a = torch.randn(4, 8, requires_grad=True)
    loss(a, torch.randn(4, 8)).backward()
    assert loss.log_scale.grad is not None and a.grad is not None
    with pytest.raises(ConfigError, match='temperature'):
        InfoNCELoss(temperature=0.0)
    with pytest.raises(ValueError, match='must both be'):
        info_nce(torch.randn(3, 4), torch.randn(2, 4))

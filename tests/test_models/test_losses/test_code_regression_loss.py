"""CodeRegressionLoss values checked by hand."""
import math

import pytest
import torch

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError


def _loss(**kw):
    return MODELS.build(dict(type='CodeRegressionLoss', **kw))


def test_mse_hand_checked():
    pred = torch.tensor([[1., 2.], [0., 0.]])
    target = torch.tensor([[0., 0.], [3., 4.]])
    # per sample: (1 + 4) / 2 = 2.5 and (9 + 16) / 2 = 12.5
    assert torch.allclose(_loss(mode='mse')(pred, target), torch.tensor(7.5))
    assert torch.allclose(
        _loss(mode='mse', reduction='none')(pred, target),
        torch.tensor([2.5, 12.5]))
    assert torch.allclose(
        _loss(mode='mse', reduction='sum', loss_weight=2.)(pred, target),
        torch.tensor(30.))
    w = torch.tensor([1., 0.])
    assert torch.allclose(
        _loss(mode='mse')(pred, target, weight=w, avg_factor=1),
        torch.tensor(2.5))


def test_smooth_l1_hand_checked():
    pred = torch.tensor([[0.5, 3.0]])
    target = torch.zeros(1, 2)
    # beta=1: 0.5 * 0.25 = 0.125 and 3 - 0.5 = 2.5 -> mean 1.3125
    assert torch.allclose(_loss(mode='smooth_l1')(pred, target),
                          torch.tensor(1.3125))
    # beta=4: both quadratic: 0.25/8 and 9/8 -> mean 0.578125
    assert torch.allclose(_loss(mode='smooth_l1', beta=4.)(pred, target),
                          torch.tensor(0.578125))


def test_cosine_hand_checked():
    pred = torch.tensor([[1., 0.], [2., 2.], [0., -3.]])
    target = torch.tensor([[5., 0.], [0., 1.], [0., 1.]])
    # 1 - cos: 0, 1 - 1/sqrt(2), 2
    expect = (0 + 1 - 1 / math.sqrt(2) + 2) / 3
    assert torch.allclose(_loss(mode='cosine')(pred, target),
                          torch.tensor(expect))


def test_gradient_flows_and_bad_mode():
    pred = torch.randn(4, 3, requires_grad=True)
    _loss(mode='cosine')(pred, torch.randn(4, 3)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match='mode'):
        _loss(mode='l3')
    with pytest.raises(ConfigError, match='reduction'):
        _loss(reduction='avg')


def test_softmax_mode_hand_checked():
    codes = torch.tensor([[1., 0.], [0., 1.], [-1., 0.]])
    pred = torch.tensor([[1., 0.]])
    # squared distances 0, 2, 4 -> -log(e^0 / (e^0 + e^-2 + e^-4))
    expect = math.log(1 + math.exp(-2) + math.exp(-4))
    loss = _loss(mode='softmax')
    got = loss(pred, codes[[0]], codes=codes, labels=torch.tensor([0]))
    assert torch.allclose(got, torch.tensor(expect))
    # temperature 2 halves the logits; label 1
    expect = -(-1.0) + math.log(1 + math.exp(-1) + math.exp(-2))
    got = _loss(mode='softmax', temperature=2.)(
        pred, codes[[1]], codes=codes, labels=torch.tensor([1]))
    assert torch.allclose(got, torch.tensor(expect))
    with pytest.raises(ValueError, match='needs the class codes'):
        loss(pred, codes[[0]])

"""BAS losses (Activation Map Constraint, area, foreground guidance) on
hand-computed cases."""
import math

import pytest
import torch

from mmfg.models.losses.wsol_losses import (activation_map_constraint,
                                            foreground_score)
from mmfg.registry import MODELS

S = torch.tensor([2.0, -1.0, 1.0])
S_BG = torch.tensor([1.0, 0.5, 3.0])


def test_amc_ratio_by_hand():
    # relu(S) = [2, 0, 1], relu(S_bg) = [1, .5, 3]: only the first stays
    # below its full-image score (ratio .5); the others overflow.
    clip = activation_map_constraint(S_BG, S, overflow='clip')
    assert torch.allclose(clip, torch.tensor([0.5, 1.0, 1.0]))
    zero = activation_map_constraint(S_BG, S, overflow='zero')
    assert torch.allclose(zero, torch.tensor([0.5, 0.0, 0.0]))
    plain = activation_map_constraint(S_BG, S, overflow='none')
    assert plain[0] == pytest.approx(0.5)
    assert plain[1] == pytest.approx(0.5 / 1e-8)
    assert plain[2] == pytest.approx(3.0)
    # a negative background score is no evidence at all
    assert activation_map_constraint(
        torch.tensor([-4.0]), torch.tensor([2.0])).item() == 0.0
    with pytest.raises(ValueError, match='overflow'):
        activation_map_constraint(S_BG, S, overflow='max')


def test_amc_loss_gradient_only_through_background():
    loss = MODELS.build(
        dict(type='ActivationMapConstraintLoss', loss_weight=2.0))
    s = S.clone().requires_grad_()
    s_bg = S_BG.clone().requires_grad_()
    out = loss(s_bg, s)
    assert out.item() == pytest.approx(2.0 * (0.5 + 1 + 1) / 3)
    out.backward()
    # d/dS_bg[0] of 2 * mean(S_bg / 2) = 2 / 3 / 2; overflowed rows: 0
    assert torch.allclose(s_bg.grad, torch.tensor([1 / 3, 0.0, 0.0]))
    assert s.grad is None  # S is the detached reference


def test_area_loss_by_hand():
    loss = MODELS.build(dict(type='AreaLoss', loss_weight=1.5))
    m = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]]])
    assert loss(m).item() == pytest.approx(1.5 * 0.5)


def test_foreground_guidance_by_hand():
    # F: class 0 fires 4 at the top-left cell, class 1 is 0 everywhere
    score_map = torch.zeros(1, 2, 2, 2)
    score_map[0, 0, 0, 0] = 4.0
    score_map[0, 0, 1, 1] = 8.0  # erased by the map below
    fg = torch.zeros(1, 1, 4, 4)
    fg[0, 0, :2, :2] = 1.0  # pools to 1 at the top-left cell only
    logits = foreground_score(score_map, fg)
    assert torch.allclose(logits, torch.tensor([[1.0, 0.0]]))
    loss = MODELS.build(dict(type='ForegroundGuidanceLoss', loss_weight=0.5))
    expected = 0.5 * math.log(1 + math.exp(-1.0))
    assert loss(logits, torch.tensor([0])).item() == pytest.approx(expected)
    # same resolution: no pooling, plain masked mean
    fg2 = torch.zeros(1, 1, 2, 2)
    fg2[0, 0, 1, 1] = 0.5
    assert torch.allclose(
        foreground_score(score_map, fg2), torch.tensor([[1.0, 0.0]]))

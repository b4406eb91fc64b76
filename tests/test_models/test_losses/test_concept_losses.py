"""Explanation and sparsity losses of concept transformers, by hand."""
import math

import torch

from mmfg.registry import MODELS


def test_explanation_loss_hand_computed():
    loss = MODELS.build(dict(type='ConceptExplanationLoss', loss_weight=2.))
    g_attn = torch.tensor([[.5, .25, .25], [.2, .3, .5]])
    g_tgt = torch.tensor([[1., 0., 0.], [0., 0., 0.]])
    g_valid = torch.tensor([True, False])
    # only image 0: .25 + .0625 + .0625 = .375
    s_attn = torch.tensor([[[.5, .5], [1., 0.]]])
    s_tgt = torch.tensor([[[1., 0.], [0., 1.]]])
    s_valid = torch.tensor([[True, True]])
    # patch 0: .25 + .25 = .5, patch 1: 1 + 1 = 2 -> mean 1.25
    val = loss(g_attn, g_tgt, g_valid, s_attn, s_tgt, s_valid)
    assert math.isclose(val.item(), 2. * (.375 + 1.25), rel_tol=1e-6)
    # no supervised row: 0, and still differentiable
    a = g_attn.clone().requires_grad_()
    zero = loss(a, g_tgt, torch.tensor([False, False]))
    zero.backward()
    assert zero.item() == 0. and torch.equal(a.grad, torch.zeros_like(a))


def test_sparsity_entropy_hand_computed():
    loss = MODELS.build(dict(type='ConceptSparsityLoss', loss_weight=.5))
    p = torch.tensor([[.5, .5, 0., 0.], [1., 0., 0., 0.]])
    # entropies: log 2 and 0, averaged over the 8 elements
    expect = .5 * (math.log(2) / 8)
    assert math.isclose(loss(p).item(), expect, rel_tol=1e-5)
    # uniform over K: log(K) / K; two streams add up
    u = torch.full((3, 5, 4), .25)
    assert math.isclose(
        loss(p, u, None).item(), expect + .5 * math.log(4) / 4, rel_tol=1e-5)

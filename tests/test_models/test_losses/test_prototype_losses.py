"""Prototype losses on hand-computed cases."""
import math

import pytest
import torch
from mmengine.registry import DefaultScope

from mmfg.models.losses.prototype_losses import (ProtoPNetLoss,
                                                 STProtoPNetLoss,
                                                 class_pair_similarity,
                                                 closeness_cost, cluster_cost,
                                                 discrimination_cost,
                                                 masked_l1, orthogonality_cost,
                                                 separation_cost)
from mmfg.registry import MODELS


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmfg'):
        return MODELS.build(cfg)


CLS = torch.tensor([0, 0, 1, 1])
MIN_DIST = torch.tensor([[1., 3., .5, 2.], [4., 2., 6., 1.]])
LABELS = torch.tensor([0, 1])
W = torch.tensor([[1., 2., -3., 4.], [5., -6., 7., 8.]])
LOGITS = torch.tensor([[2., 0.], [0., 1.]])


def test_cluster_separation_l1_by_hand():
    assert cluster_cost(MIN_DIST, LABELS, CLS) == pytest.approx(1.0)
    assert separation_cost(MIN_DIST, LABELS, CLS) == pytest.approx(1.25)
    assert masked_l1(W, CLS) == pytest.approx(18.0)
    valid = torch.tensor([False, True, True, True])
    assert cluster_cost(MIN_DIST, LABELS, CLS, valid) == pytest.approx(2.0)
    assert separation_cost(MIN_DIST, LABELS, CLS, valid) == pytest.approx(
        1.25)
    sim = torch.tensor([[.9, .2, .4, .7], [.1, .3, .8, .6]])
    assert cluster_cost(sim, LABELS, CLS, similarity=True) == pytest.approx(
        0.85)
    assert separation_cost(sim, LABELS, CLS,
                           similarity=True) == pytest.approx(0.5)


def test_protopnet_loss_total_by_hand():
    loss = _build(dict(type='ProtoPNetLoss'))
    out = loss(LOGITS, MIN_DIST, LABELS, CLS, W)
    ce = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2
    assert out['loss_ce'] == pytest.approx(ce, rel=1e-6)
    assert out['loss_cluster'] == pytest.approx(0.8 * 1.0)
    assert out['loss_separation'] == pytest.approx(-0.08 * 1.25)
    assert out['loss_l1'] == pytest.approx(1e-4 * 18)
    total = sum(v for k, v in out.items() if k.startswith('loss'))
    assert total == pytest.approx(ce + 0.8 - 0.1 + 1.8e-3, rel=1e-6)
    assert not out['cluster_dist'].requires_grad
    plain = ProtoPNetLoss(class_specific=False)(LOGITS, MIN_DIST, LABELS,
                                                CLS, W)
    assert set(plain) == {'loss_ce', 'loss_l1'}
    assert plain['loss_l1'] == pytest.approx(1e-4 * 36)


# unit prototypes, 2 classes x 2: p0=[1,0], p1=[0,1] | p2=[.6,.8], p3=[-1,0]
PROTOS = torch.tensor([[1., 0.], [0., 1.], [.6, .8], [-1., 0.]])


def test_class_pair_terms_by_hand():
    smin = class_pair_similarity(PROTOS, CLS, 2, 'min')
    smax = class_pair_similarity(PROTOS, CLS, 2, 'max')
    assert smin.flatten().tolist() == pytest.approx([0., -1., -1., -.6])
    assert smax[0, 1] == pytest.approx(0.8)
    assert closeness_cost(PROTOS, CLS, 2) == pytest.approx(1.0)
    assert discrimination_cost(PROTOS, CLS, 2) == pytest.approx(0.8)
    assert orthogonality_cost(PROTOS, CLS, 2) == pytest.approx(1.2)


def test_class_pair_similarity_equals_loop_reference():
    torch.manual_seed(0)
    C, K, D = 4, 3, 5
    p = torch.nn.functional.normalize(torch.randn(C * K, D), dim=1)
    cls = torch.arange(C * K) // K
    for reduce in ('min', 'max'):
        fast = class_pair_similarity(p, cls, C, reduce)
        for a in range(C):
            for b in range(C):
                vals = [float(p[a * K + i] @ p[b * K + j])
                        for i in range(K) for j in range(K)]
                ref = min(vals) if reduce == 'min' else max(vals)
                assert fast[a, b] == pytest.approx(ref, abs=1e-6)
    orth_ref = sum(
        (p[c * K:(c + 1) * K] @ p[c * K:(c + 1) * K].t() -
         torch.eye(K)).abs().sum() for c in range(C))
    assert orthogonality_cost(p, cls, C) == pytest.approx(float(orth_ref),
                                                          rel=1e-5)
    with pytest.raises(ValueError, match='ordered by class'):
        class_pair_similarity(p, cls.flip(0), C)


def test_st_branch_losses_by_hand():
    sim = torch.tensor([[.9, .2, .4, .7], [.1, .3, .8, .6]])
    trivial = _build(dict(type='STProtoPNetLoss', prefix='trivial',
                          separation_weight=0.08,
                          discrimination_weight=1.0))
    support = STProtoPNetLoss(prefix='support', separation_weight=0.48,
                              closeness_weight=1.0)
    t = trivial(LOGITS, sim, LABELS, PROTOS, CLS, W)
    s = support(LOGITS, sim, LABELS, PROTOS, CLS, W)
    assert t['loss_trivial_cluster'] == pytest.approx(-0.8 * 0.85)
    assert t['loss_trivial_separation'] == pytest.approx(0.08 * 0.5)
    assert t['loss_trivial_discrimination'] == pytest.approx(0.8)
    assert t['loss_trivial_orth'] == pytest.approx(1e-3 * 1.2)
    assert t['loss_trivial_l1'] == pytest.approx(1e-4 * 18)
    assert 'loss_trivial_closeness' not in t
    assert s['loss_support_separation'] == pytest.approx(0.48 * 0.5)
    assert s['loss_support_closeness'] == pytest.approx(1.0)
    assert 'loss_support_discrimination' not in s


def test_losses_have_gradients():
    p = PROTOS.clone().requires_grad_()
    (closeness_cost(p, CLS, 2) + discrimination_cost(p, CLS, 2) +
     orthogonality_cost(p, CLS, 2)).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0

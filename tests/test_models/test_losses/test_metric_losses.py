import itertools

import pytest
import torch

from mmfg.models.losses import (ContrastiveLoss, TripletLoss,
                                ZeroMeanRegularizer, zero_mean_regularizer)
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

DISTANCES = ('l2', 'squared_l2', 'cosine', 'snr')


def _dist(x, y, name):
    if name == 'l2':
        return (x - y).pow(2).sum().add(1e-14).sqrt()
    if name == 'squared_l2':
        return (x - y).pow(2).sum()
    if name == 'cosine':
        return 1 - torch.dot(x, y) / (x.norm() * y.norm())
    return torch.var(y - x) / torch.var(x)


def _reduce(vals, reduction):
    vals = torch.stack(vals) if vals else torch.zeros(0, dtype=torch.float64)
    if reduction == 'sum':
        return vals.sum()
    if reduction == 'mean_nonzero':
        vals = vals[vals > 0]
    return vals.mean() if len(vals) else torch.zeros((), dtype=vals.dtype)


def _slow_triplet(emb, labels, margin, dist, miner, reduction, ref=None,
                  ref_labels=None):
    same = ref is None
    ref = emb if same else ref
    ref_labels = labels if same else ref_labels
    n, m = len(emb), len(ref)
    d = [[_dist(emb[i], ref[j], dist) for j in range(m)] for i in range(n)]
    vals = []
    for a in range(n):
        pos = [p for p in range(m)
               if ref_labels[p] == labels[a] and not (same and p == a)]
        neg = [q for q in range(m) if ref_labels[q] != labels[a]]
        if miner == 'batch-hard':
            if not pos or not neg:
                continue
            p = max(pos, key=lambda j: (float(d[a][j]), -j))
            q = min(neg, key=lambda j: (float(d[a][j]), j))
            vals.append((d[a][p] - d[a][q] + margin).clamp_min(0))
            continue
        for p, q in itertools.product(pos, neg):
            dap, dan = float(d[a][p]), float(d[a][q])
            if miner == 'semi-hard' and not dap < dan < dap + margin:
                continue
            if miner == 'hard' and not dan <= dap:
                continue
            vals.append((d[a][p] - d[a][q] + margin).clamp_min(0))
    return _reduce(vals, reduction)


def _slow_contrastive(emb, labels, pm, nm, dist, miner, reduction):
    n = len(emb)
    d = [[_dist(emb[i], emb[j], dist) for j in range(n)] for i in range(n)]
    pos_vals, neg_vals = [], []
    for a in range(n):
        pos = [p for p in range(n) if labels[p] == labels[a] and p != a]
        neg = [q for q in range(n) if labels[q] != labels[a]]
        if miner == 'hard':
            far_pos = max([float(d[a][p]) for p in pos], default=-1e30)
            near_neg = min([float(d[a][q]) for q in neg], default=1e30)
            pos = [p for p in pos if float(d[a][p]) > near_neg]
            neg = [q for q in neg if float(d[a][q]) < far_pos]
        pos_vals += [(d[a][p] - pm).clamp_min(0) for p in pos]
        neg_vals += [(nm - d[a][q]).clamp_min(0) for q in neg]
    return _reduce(pos_vals, reduction) + _reduce(neg_vals, reduction)


def _batch(n=10, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, dim, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 4])[:n]  # 3, 4 alone
    return emb, labels


@pytest.mark.parametrize('distance', DISTANCES)
@pytest.mark.parametrize('miner', ['all', 'semi-hard', 'hard', 'batch-hard'])
def test_triplet_equals_slow_loop(distance, miner):
    emb, labels = _batch()
    margin = {'l2': 0.8, 'squared_l2': 3.0, 'cosine': 0.3, 'snr': 1.0}
    for reduction in ('mean_nonzero', 'mean', 'sum'):
        loss = TripletLoss(margin=margin[distance], distance=distance,
                           miner=miner, reduction=reduction)
        ref = _slow_triplet(emb, labels, margin[distance], distance, miner,
                            reduction)
        torch.testing.assert_close(loss(emb, labels), ref)


@pytest.mark.parametrize('distance', DISTANCES)
@pytest.mark.parametrize('miner', ['all', 'hard'])
def test_contrastive_equals_slow_loop(distance, miner):
    emb, labels = _batch(seed=1)
    for reduction in ('mean_nonzero', 'mean'):
        loss = ContrastiveLoss(pos_margin=0.1, neg_margin=1.2,
                               distance=distance, miner=miner,
                               reduction=reduction)
        ref = _slow_contrastive(emb, labels, 0.1, 1.2, distance, miner,
                                reduction)
        torch.testing.assert_close(loss(emb, labels), ref)


def test_triplet_with_reference_set_and_regulariser():
    emb, labels = _batch(n=6, seed=2)
    ref, _ = _batch(n=8, seed=3)
    ref_labels = torch.tensor([0, 1, 1, 2, 5, 0, 2, 1])
    loss = TripletLoss(margin=0.5, distance='snr', miner='all',
                       reduction='mean', reg_weight=0.3, loss_weight=2.0)
    slow = _slow_triplet(emb, labels, 0.5, 'snr', 'all', 'mean', ref,
                         ref_labels)
    reg = sum(abs(float(e.sum())) for e in emb) / len(emb)
    torch.testing.assert_close(
        loss(emb, labels, ref, ref_labels), 2.0 * (slow + 0.3 * reg))
    with pytest.raises(ValueError, match='both'):
        loss(emb, labels, ref)


def test_zero_mean_regularizer_hand_value():
    h = torch.tensor([[1., 2., -3.], [1., 1., 1.], [-4., 0., 0.]])
    # |0| + |3| + |-4| over 3 rows
    assert float(zero_mean_regularizer(h)) == pytest.approx(7 / 3)
    reg = MODELS.build(dict(type='ZeroMeanRegularizer', loss_weight=0.5))
    assert isinstance(reg, ZeroMeanRegularizer)
    assert float(reg(h)) == pytest.approx(7 / 6)


def test_no_triplet_gives_zero_with_graph():
    emb = torch.randn(4, 3, requires_grad=True)
    loss = TripletLoss(miner='all')(emb, torch.arange(4))  # no positives
    assert float(loss.detach()) == 0
    loss.backward()
    assert emb.grad is not None and float(emb.grad.abs().sum()) == 0


def test_built_from_config_and_learns_direction():
    loss = MODELS.build(dict(type='TripletLoss', distance='snr',
                             miner='all', margin=1.0))
    emb, labels = _batch(seed=4)
    emb = emb.float().requires_grad_()
    opt = torch.optim.SGD([emb], lr=0.1)
    first = float(loss(emb, labels))
    for _ in range(20):
        opt.zero_grad()
        loss(emb, labels).backward()
        opt.step()
    assert float(loss(emb, labels)) < 0.5 * first


@pytest.mark.parametrize('kwargs,match', [
    (dict(distance='manhattan'), 'distance must be one of'),
    (dict(miner='easy'), 'miner must be one of'),
    (dict(reduction='max'), 'reduction must be one of'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TripletLoss(**kwargs)
    with pytest.raises(ConfigError, match='miner must be one of'):
        ContrastiveLoss(miner='semi-hard')

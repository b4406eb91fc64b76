"""SMDL: batched greedy against the plain greedy, the score terms, lazy."""
import math

import pytest
import torch
from torch import nn

from mmfg.explain.attribution import (SMDLScore, effectiveness, greedy_select,
                                      grid_partition, labels_to_masks,
                                      logits_features_fn, rank_map,
                                      reference_greedy, reference_smdl_score,
                                      smdl_attribution)


class TinyNet(nn.Module):

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, classes)

    def features(self, x):
        return torch.relu(self.conv(x)).mean((2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


@pytest.fixture
def setup():
    model = TinyNet().double().eval()
    torch.manual_seed(1)
    x = torch.randn(3, 16, 16, dtype=torch.float64)
    masks = labels_to_masks(grid_partition(16, 16, 4))  # 16 regions
    return logits_features_fn(model), x, masks


@pytest.mark.parametrize('weights', [
    None,
    dict(confidence=0., effectiveness=0.3, consistency=2., collaboration=1.)
])
def test_batched_greedy_equals_plain_greedy(setup, weights):
    fn, x, masks = setup
    base = torch.zeros_like(x)
    res = smdl_attribution(fn, x, masks, 2, base, weights, chunk_size=7)
    score = reference_smdl_score(fn, x, base, masks, 2, weights)
    order, values = reference_greedy(score, masks.shape[0])
    assert res['order'].tolist() == order
    torch.testing.assert_close(res['scores'].double(),
                               torch.tensor(values, dtype=torch.float64),
                               rtol=1e-5, atol=1e-5)
    # m(m+1)/2 subsets scored, each with its complement in the same pass
    assert res['evaluations'] == 16 * 17 // 2
    assert sorted(res['order'].tolist()) == list(range(16))


def test_score_terms_by_hand(setup):
    fn, x, masks = setup
    base = torch.zeros_like(x)
    scorer = SMDLScore(fn, x, base, masks, 2)
    members = torch.zeros(2, 16, dtype=torch.bool)
    members[0, [0, 5]] = True
    members[1] = True  # the whole image
    comps = scorer.components(members)
    with torch.no_grad():
        p = fn(x[None])[0].float().softmax(-1)[0]
        p0 = fn(base[None])[0].float().softmax(-1)[0]
    assert comps['consistency'][1] == pytest.approx(float(p[2]), abs=1e-6)
    assert comps['collaboration'][1] == pytest.approx(1 - float(p0[2]),
                                                      abs=1e-6)
    ent = -(p * p.log()).sum()
    assert comps['confidence'][1] == pytest.approx(
        1 - float(ent) / math.log(5), abs=1e-6)
    # two elements: both take their mutual angle, scaled to [0, 1] by pi as
    # in the official code (region features of each region alone)
    with torch.no_grad():
        f0 = fn(torch.where(masks[0], x, base)[None])[1][0]
        f5 = fn(torch.where(masks[5], x, base)[None])[1][0]
    cos = float(f0 @ f5 / (f0.norm() * f5.norm()))
    angle = math.acos(cos) / math.pi
    assert 0 < angle < 1
    assert comps['effectiveness'][0] == pytest.approx(2 * angle, abs=1e-6)


def test_effectiveness_by_hand():
    angles = torch.tensor([[0., 1., 2.], [1., 0., 0.5], [2., 0.5, 0.]])
    members = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0],
                            [0, 0, 0]]).bool()
    # {0,1,2}: min(1,2) + min(1,.5) + min(2,.5) = 2; {0,2}: 4; singleton: 0
    torch.testing.assert_close(effectiveness(members, angles),
                               torch.tensor([2., 4., 0., 0.]))


def test_lazy_greedy_is_a_permutation_and_exact_when_it_must_be(setup):
    fn, x, masks = setup
    full = smdl_attribution(fn, x, masks, 1)
    lazy = smdl_attribution(fn, x, masks, 1, lazy=True, lazy_batch=3)
    assert sorted(lazy['order'].tolist()) == list(range(16))
    assert lazy['evaluations'] < full['evaluations']
    # the first step scores every candidate: same first pick
    assert lazy['order'][0] == full['order'][0]
    # rescoring at least all remaining candidates is the plain greedy
    wide = smdl_attribution(fn, x, masks, 1, lazy=True, lazy_batch=16)
    assert wide['order'].tolist() == full['order'].tolist()
    # a modular function's gains never change: lazy (batch 1) is exact
    w = torch.randn(9, generator=torch.Generator().manual_seed(3))

    def modular(members):
        return members.float() @ w

    exact = greedy_select(modular, 9)
    cheap = greedy_select(modular, 9, lazy=True, lazy_batch=1)
    assert cheap['order'].tolist() == exact['order'].tolist() == \
        torch.argsort(-w).tolist()
    assert cheap['evaluations'] == 9 + 8


def test_budget_and_rank_map(setup):
    fn, x, masks = setup
    res = smdl_attribution(fn, x, masks, 0, budget=3)
    assert res['order'].numel() == 3
    m = rank_map(masks, res['order'])
    first = masks[res['order'][0]]
    assert torch.all(m[first] == 1.)
    assert torch.allclose(m[masks[res['order'][2]]], torch.tensor(14 / 16))
    chosen = masks[res['order']].any(0)
    assert torch.all(m[~chosen] == 0)


def test_bad_input(setup):
    fn, x, masks = setup
    with pytest.raises(ValueError, match='do not match the image'):
        smdl_attribution(fn, x, masks[:, :8], 0)
    with pytest.raises(ValueError, match='non-empty'):
        smdl_attribution(fn, x, masks[:0], 0)
    with pytest.raises(ValueError, match='unknown weights'):
        smdl_attribution(fn, x, masks, 0, weights=dict(conf=1.))

"""Entangled-D / Entangled-S: hand-computed cases, a slow per-pixel
reference, and the registered metric."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.registry import METRICS
from projects.forgetme.forgetme import consistency, entangled, entangled_d

EPS = 1e-6


def _reference(orig, bg, mask, alpha=0.5, beta=0.5):
    """Straight per-pixel loops in plain Python (one image)."""
    c, h, w = len(bg), len(bg[0]), len(bg[0][0])
    xi, yi, xo, yo = [], [], [], []
    for i in range(h):
        for j in range(w):
            inner = bool(mask[i][j] >= 0.5)
            for k in range(c):
                y = float(bg[k][i][j])
                x = float(orig[k][i][j]) if orig is not None else 0.
                (yi if inner else yo).append(y)
                (xi if inner else xo).append(x)

    def rmse(a, b):
        if not a:
            return 0.
        return math.sqrt(sum((p - q)**2 for p, q in zip(a, b)) / len(a))

    def mean_var(a):
        if not a:
            return 0., 0.
        m = sum(a) / len(a)
        return m, sum((v - m)**2 for v in a) / len(a)

    mi, vi = mean_var(yi)
    mo, vo = mean_var(yo)
    big_m = 2 * mi * mo / (mi**2 + mo**2 + EPS)
    big_v = 2 * math.sqrt(vi) * math.sqrt(vo) / (vi + vo + EPS)
    con = big_m * big_v
    if orig is None:
        return None, con
    s_in = 1 - rmse(xi, yi)
    s_out = rmse(xo, yo)
    s = 2 * s_in * (1 - s_out) / (s_in + 1 - s_out + EPS)
    d = (alpha + beta) * s * con / (alpha * con + beta * s + EPS)
    return d, con


def _hand_case():
    # 2 x 2 image, grey (3 equal channels); left column = forget region.
    bg = torch.tensor([[0.2, 0.5], [0.6, 0.9]], dtype=torch.float64)
    orig = bg + torch.tensor([[0.1, 0.2], [0.1, 0.2]], dtype=torch.float64)
    mask = torch.tensor([[1, 0], [1, 0]], dtype=torch.float64)
    return (orig.expand(3, 2, 2)[None], bg.expand(3, 2, 2)[None], mask[None])


def test_hand_computed_values():
    orig, bg, mask = _hand_case()
    out = entangled(orig, bg, mask)
    # inner {0.2, 0.6}: mean 0.4, sigma 0.2; outer {0.5, 0.9}: 0.7, 0.2
    m = 2 * 0.4 * 0.7 / (0.4**2 + 0.7**2)  # 0.56 / 0.65
    s = 2 * 0.9 * 0.8 / (0.9 + 0.8)  # S_in = 1 - 0.1, S_out = 0.2
    d = 2 * s * m / (s + m)  # V = 1, alpha = beta = 0.5
    assert out['s_in'].item() == pytest.approx(0.9, abs=1e-12)
    assert out['s_out'].item() == pytest.approx(0.2, abs=1e-12)
    assert out['mean_term'].item() == pytest.approx(m, abs=1e-5)
    assert out['var_term'].item() == pytest.approx(1., abs=1e-4)
    assert out['similarity'].item() == pytest.approx(s, abs=1e-5)
    assert out['entangled_s'].item() == pytest.approx(m, abs=1e-4)
    assert out['entangled_d'].item() == pytest.approx(d, abs=1e-4)


def test_degenerate_cases():
    orig, bg, mask = _hand_case()
    # empty forget region: mu_in = 0 -> M = 0 -> C = 0 -> D = 0
    out = entangled(orig, bg, torch.zeros_like(mask))
    assert out['consistency'].item() == 0
    assert out['entangled_d'].item() == pytest.approx(0, abs=1e-6)
    assert out['s_in'].item() == 1
    # flat background: V = 0
    flat = torch.full_like(bg, 0.5)
    assert consistency(flat, mask)['consistency'].item() == 0
    # identical images: S_in = 1, S_out = 0 -> S = 1, D = 2C / (1 + C)
    out = entangled(bg, bg, mask)
    c = out['consistency'].item()
    assert out['similarity'].item() == pytest.approx(1, abs=1e-6)
    assert out['entangled_d'].item() == pytest.approx(
        2 * c / (1 + c), abs=1e-5)


def test_uint8_and_mask_encodings_agree():
    g = torch.Generator().manual_seed(0)
    orig8 = torch.randint(0, 256, (2, 3, 5, 6), generator=g, dtype=torch.uint8)
    bg8 = torch.randint(0, 256, (2, 3, 5, 6), generator=g, dtype=torch.uint8)
    inner = torch.rand(2, 5, 6, generator=g) > 0.5
    a = entangled(orig8, bg8, inner)
    b = entangled(orig8 / 255., bg8 / 255., inner.float()[:, None] * 255)
    c = entangled(orig8 / 255., bg8 / 255., inner.to(torch.uint8) * 255)
    d = entangled(orig8, bg8, inner.to(torch.uint8))  # 0/1 labels
    for k in ('entangled_d', 'entangled_s', 'similarity'):
        for other in (b, c, d):
            assert torch.allclose(a[k], other[k])


@pytest.mark.parametrize('alpha,beta', [(0.5, 0.5), (0.2, 0.8), (1., 0.)])
def test_equals_slow_reference(alpha, beta):
    g = torch.Generator().manual_seed(1)
    orig = torch.rand(4, 3, 6, 7, generator=g, dtype=torch.float64)
    bg = (orig + 0.2 * torch.rand(4, 3, 6, 7, generator=g,
                                  dtype=torch.float64)).clamp(0, 1)
    mask = torch.rand(4, 6, 7, generator=g, dtype=torch.float64)
    mask[3] = 1.  # everything forgotten: empty outer region
    out = entangled(orig, bg, mask, alpha, beta)
    for b in range(4):
        d, con = _reference(orig[b].tolist(), bg[b].tolist(),
                            mask[b].tolist(), alpha, beta)
        assert out['entangled_d'][b].item() == pytest.approx(d, abs=1e-10)
        assert out['entangled_s'][b].item() == pytest.approx(con, abs=1e-10)
        _, con_unpaired = _reference(None, bg[b].tolist(), mask[b].tolist())
        assert con_unpaired == pytest.approx(con, abs=1e-12)


def test_bad_shapes_are_named():
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match='mask'):
        entangled_d(x, x, torch.ones(1, 5, 4))
    with pytest.raises(ValueError, match='differ in shape'):
        entangled(x, torch.rand(1, 3, 4, 5), torch.ones(1, 4, 5))


def _sample(pred, orig, mask):
    ds = DataSample()
    ds.set_field(pred, 'pred_img')
    ds.set_field(orig, 'gt_orig')
    ds.set_field(mask, 'gt_mask')
    return ds


def test_metric_matches_functions_and_groups_sizes():
    g = torch.Generator().manual_seed(2)
    metric = METRICS.build(dict(type='Entangled'))
    samples, ds_all = [], []
    for i, (h, w) in enumerate([(6, 6), (5, 7), (6, 6)]):
        pred = torch.rand(3, h, w, generator=g)
        orig = (torch.rand(3, h, w, generator=g) * 255).to(torch.uint8)
        mask = (torch.rand(h, w, generator=g) > 0.4).to(torch.uint8)
        samples.append((pred, orig, mask))
        ds_all.append(_sample(pred, orig, mask))
    metric.process({}, ds_all[:2])
    metric.process({}, ds_all[2:])
    res = metric.evaluate(3)
    ref_d, ref_s = [], []
    for pred, orig, mask in samples:
        d, con = _reference(orig.double().div(255).tolist(),
                            pred.double().tolist(), mask.tolist())
        ref_d.append(d)
        ref_s.append(con)
    assert res['entangled/entangled_d'] == pytest.approx(
        sum(ref_d) / 3, abs=1e-6)
    assert res['entangled/entangled_s'] == pytest.approx(
        sum(ref_s) / 3, abs=1e-6)

    unpaired = METRICS.build(dict(type='Entangled', mode='unpaired'))
    unpaired.process({}, [{'pred_img': p, 'gt_mask': m}
                          for p, _, m in samples])
    res_u = unpaired.evaluate(3)
    assert set(res_u) == {'entangled/entangled_s', 'entangled/mean_term',
                          'entangled/var_term'}
    assert res_u['entangled/entangled_s'] == pytest.approx(
        res['entangled/entangled_s'])


def test_metric_missing_field_and_bad_mode():
    metric = METRICS.build(dict(type='Entangled'))
    with pytest.raises(KeyError, match='gt_orig'):
        metric.process({}, [{'pred_img': torch.rand(3, 2, 2),
                             'gt_mask': torch.ones(2, 2)}])
    with pytest.raises(ValueError, match='mode'):
        METRICS.build(dict(type='Entangled', mode='both_ways'))

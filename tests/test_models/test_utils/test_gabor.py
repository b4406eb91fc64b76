"""Gabor filter bank: closed-form kernels, constrained parameters."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmfg.models.utils.gabor import GaborFilterBank, gabor_kernels, gabor_wmax
from mmfg.utils.errors import ConfigError


def _slow_gabor(theta, sx, sy, w, k):
    """The closed-form real Gabor kernel, one pixel at a time."""
    half = k // 2
    out = torch.empty(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(k):
            y, x = i - half, j - half
            xr = x * math.cos(theta) + y * math.sin(theta)
            yr = -x * math.sin(theta) + y * math.cos(theta)
            out[i, j] = (math.exp(-0.5 * (xr**2 / sx**2 + yr**2 / sy**2)) *
                         math.cos(2 * math.pi * w * xr) /
                         (2 * math.pi * sx * sy))
    return out


def test_kernels_match_closed_form():
    bank = GaborFilterBank(num_filters=6, kernel_size=9).double()
    with torch.no_grad():
        for p in bank.parameters():
            p.copy_(torch.randn_like(p))
    kernels = bank.kernels()
    params = bank.parameters_dict()
    assert kernels.shape == (6, 9, 9)
    for f in range(6):
        ref = _slow_gabor(*(params[n][f].item()
                            for n in ('theta', 'sigma_x', 'sigma_y', 'freq')),
                          9)
        torch.testing.assert_close(kernels[f], ref, rtol=1e-10, atol=1e-12)


def test_kernel_known_values():
    # theta = 0, W = 0: a separable Gaussian; centre = 1 / (2 pi sx sy)
    one = torch.ones(1, dtype=torch.float64)
    k = gabor_kernels(0 * one, 2 * one, 1 * one, 0 * one, 5)[0]
    assert k[2, 2].item() == pytest.approx(1 / (4 * math.pi))
    assert k[2, 3].item() == pytest.approx(math.exp(-1 / 8) / (4 * math.pi))
    assert k[3, 2].item() == pytest.approx(math.exp(-1 / 2) / (4 * math.pi))
    # W = 0.25 at theta = 0: cos(pi x / 2) is 0 at x = +-1
    k = gabor_kernels(0 * one, 2 * one, 1 * one, 0.25 * one, 5)[0]
    assert k[2, 1].abs().item() < 1e-12 and k[2, 3].abs().item() < 1e-12


def test_forward_is_convolution_of_grey_level():
    bank = GaborFilterBank(num_filters=4, kernel_size=5)
    x = torch.rand(2, 3, 12, 12)
    out = bank(x)
    grey = x.mean(dim=1, keepdim=True)
    padded = torch.nn.functional.pad(grey, (2, 2, 2, 2), mode='replicate')
    ref = torch.nn.functional.conv2d(padded, bank.kernels().unsqueeze(1))
    torch.testing.assert_close(out, ref)
    # a flat image gives a flat response (no border artefact)
    flat = bank(torch.full((1, 3, 12, 12), 0.7))
    assert (flat - flat[..., :1, :1]).abs().max() < 1e-5


finite = st.floats(allow_nan=False, allow_infinity=True, width=32)


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=32, max_size=32),
       st.lists(finite, min_size=32, max_size=32),
       st.lists(finite, min_size=32, max_size=32),
       st.lists(finite, min_size=32, max_size=32),
       st.sampled_from([5, 11, 31]), st.booleans())
def test_parameters_stay_in_range(rt, rf, rx, ry, k, split):
    bank = GaborFilterBank(
        num_filters=32, kernel_size=k, frequency_split=split)
    with torch.no_grad():
        bank.raw_theta.copy_(torch.tensor(rt))
        bank.raw_freq.copy_(torch.tensor(rf))
        bank.raw_sigma_x.copy_(torch.tensor(rx))
        bank.raw_sigma_y.copy_(torch.tensor(ry))
    p = bank.parameters_dict()
    wmax = (2 * math.pi * k - 25) / (4 * math.pi * k)
    assert gabor_wmax(k) == pytest.approx(wmax)
    eps = 1e-6
    assert ((p['theta'] >= 0) & (p['theta'] <= math.pi)).all()
    w = p['freq']
    if split:
        assert ((w[:16] >= 0) & (w[:16] <= wmax / 2 + eps)).all()
        assert ((w[16:] >= wmax / 2 - eps) & (w[16:] <= wmax + eps)).all()
    else:
        assert ((w >= 0) & (w <= wmax + eps)).all()
    assert ((p['sigma_y'] >= 5 / (2 * math.pi) - eps) &
            (p['sigma_y'] <= k / 5 + eps)).all()
    sx_lo = 5 / (2 * math.pi * (1 - 2 * w.double()))
    assert (p['sigma_x'].double() >= torch.clamp(sx_lo, max=k / 5) -
            1e-5).all()
    assert (p['sigma_x'] <= k / 5 + eps).all()
    assert torch.isfinite(bank.kernels()).all()


def test_initial_bank_spreads_and_splits():
    bank = GaborFilterBank(num_filters=32, kernel_size=11)
    p = bank.parameters_dict()
    wmax = gabor_wmax(11)
    assert (p['freq'][:16] < wmax / 2).all()
    assert (p['freq'][16:] > wmax / 2).all()
    assert p['theta'].unique().numel() == 4
    assert len(list(bank.parameters())) == 4
    fixed = GaborFilterBank(num_filters=32, kernel_size=11, learnable=False)
    assert len(list(fixed.parameters())) == 0
    torch.testing.assert_close(fixed.kernels(), bank.kernels())


@pytest.mark.parametrize('kwargs', [
    dict(kernel_size=4), dict(kernel_size=10),
    dict(num_filters=7, frequency_split=True)
])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError, match='GaborFilterBank'):
        GaborFilterBank(**kwargs)

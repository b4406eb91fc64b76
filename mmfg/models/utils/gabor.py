"""A learnable, constrained Gabor filter bank.

From "Learning Gabor Texture Features for Fine-Grained Recognition" (ICCV
2023; no official code). Each filter ``f`` of a ``K x K`` bank is the real
Gabor kernel

.. math::

    x' = x\\cos\\theta + y\\sin\\theta, \\qquad
    y' = -x\\sin\\theta + y\\cos\\theta,

    g(x, y) = \\frac{1}{2\\pi\\sigma_x\\sigma_y}
        \\exp\\Big(-\\frac{x'^2}{2\\sigma_x^2}
                   - \\frac{y'^2}{2\\sigma_y^2}\\Big)
        \\cos(2\\pi W x'),

with ``(x, y)`` the integer offsets from the kernel centre. The four
parameters are learned through unconstrained ``raw`` values squashed into
their valid ranges by ``lo + (hi - lo) * sigmoid(raw)``:

- ``theta`` in ``[0, pi]``;
- ``W`` in ``[0, Wmax]`` with ``Wmax = (2 pi K - 25) / (4 pi K)``; with the
  frequency split the first half of the bank is low-frequency
  (``[0, Wmax / 2]``) and the second half high-frequency
  (``[Wmax / 2, Wmax]``);
- ``sigma_y`` in ``[5 / (2 pi), K / 5]``;
- ``sigma_x`` in ``[5 / (2 pi (1 - 2 W)), K / 5]`` (depends on the filter's
  own ``W``; the range shrinks to the point ``K / 5`` at ``W = Wmax``).

Whatever the raw values, the generated filters are valid Gabor filters
(tested with hypothesis in ``tests/test_models/test_utils/test_gabor.py``).
"""
import math
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmfg.utils.errors import ConfigError

__all__ = ['GaborFilterBank', 'gabor_kernels', 'gabor_wmax']


def gabor_wmax(kernel_size: int) -> float:
    """The largest admissible frequency ``Wmax = (2 pi K - 25) / (4 pi K)``.

    Args:
        kernel_size (int): ``K``, the kernel side.
    """
    k = float(kernel_size)
    return (2 * math.pi * k - 25.0) / (4 * math.pi * k)


def gabor_kernels(theta: Tensor, sigma_x: Tensor, sigma_y: Tensor,
                  freq: Tensor, kernel_size: int) -> Tensor:
    """Real Gabor kernels for a batch of parameters (vectorised).

    Args:
        theta (Tensor): orientations, shape ``(F, )``.
        sigma_x (Tensor): envelope widths along the wave, shape ``(F, )``.
        sigma_y (Tensor): envelope widths across the wave, shape ``(F, )``.
        freq (Tensor): frequencies ``W`` in cycles per pixel, shape ``(F, )``.
        kernel_size (int): ``K``.

    Returns:
        Tensor: kernels of shape ``(F, K, K)``; ``[f, i, j]`` is the value
        at ``y = i - K // 2``, ``x = j - K // 2``.
    """
    half = kernel_size // 2
    coords = torch.arange(
        kernel_size, dtype=theta.dtype, device=theta.device) - half
    y = coords.view(1, -1, 1)
    x = coords.view(1, 1, -1)
    cos_t = torch.cos(theta).view(-1, 1, 1)
    sin_t = torch.sin(theta).view(-1, 1, 1)
    sx = sigma_x.view(-1, 1, 1)
    sy = sigma_y.view(-1, 1, 1)
    xr = x * cos_t + y * sin_t
    yr = -x * sin_t + y * cos_t
    envelope = torch.exp(-0.5 * (xr**2 / sx**2 + yr**2 / sy**2))
    wave = torch.cos(2 * math.pi * freq.view(-1, 1, 1) * xr)
    return envelope * wave / (2 * math.pi * sx * sy)


def _squash(raw: Tensor, lo, hi) -> Tensor:
    """``lo + (hi - lo) * sigmoid(raw)``, clamped against float rounding."""
    out = lo + (hi - lo) * torch.sigmoid(raw)
    return torch.minimum(torch.maximum(out, torch.as_tensor(lo).to(out)),
                         torch.as_tensor(hi).to(out))


def _logit(p: Tensor) -> Tensor:
    p = p.clamp(1e-4, 1 - 1e-4)
    return torch.log(p) - torch.log1p(-p)


class GaborFilterBank(nn.Module):
    """``num_filters`` learnable Gabor filters with constrained parameters.

    Args:
        num_filters (int): number of filters ``F`` (even when
            ``frequency_split``). Defaults to 32.
        kernel_size (int): odd kernel side ``K >= 5``. Defaults to 11.
        frequency_split (bool): first half low-frequency
            (``W <= Wmax / 2``), second half high-frequency. Defaults to True.
        learnable (bool): learn the parameters; ``False`` keeps the initial
            (evenly spread) bank fixed (the paper's "fixed filters"
            ablation). Defaults to True.
        stride (int): convolution stride. Defaults to 1.

    Shapes:
        input ``(N, C, H, W)`` (the bank filters the channel mean) →
        responses ``(N, F, H', W')`` (replicate padding of ``K // 2``).
    """

    def __init__(self,
                 num_filters: int = 32,
                 kernel_size: int = 11,
                 frequency_split: bool = True,
                 learnable: bool = True,
                 stride: int = 1) -> None:
        super().__init__()
        if kernel_size < 5 or kernel_size % 2 == 0:
            raise ConfigError(
                f'GaborFilterBank: kernel_size={kernel_size}; it must be odd '
                'and >= 5 (the sigma and frequency ranges are empty below '
                '25 / (2 pi) ~ 4). Set e.g. kernel_size=11.')
        if frequency_split and num_filters % 2:
            raise ConfigError(
                f'GaborFilterBank: num_filters={num_filters} must be even '
                'with frequency_split=True (half low, half high frequency).')
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.frequency_split = frequency_split
        self.learnable = learnable
        self.stride = stride
        self.wmax = gabor_wmax(kernel_size)
        self.sigma_hi = kernel_size / 5.0
        self.sigma_y_lo = 5.0 / (2 * math.pi)

        # initial bank: orientations evenly spread, frequencies evenly
        # spread inside each band, envelopes at the middle of their range
        n = num_filters
        idx = torch.arange(n, dtype=torch.float32)
        n_orient = 4 if n >= 8 else max(n // 2, 1)
        theta0 = ((idx % n_orient) + 0.5) / n_orient
        per_band = n // 2 if frequency_split else n
        band_idx = idx % per_band
        freq0 = (torch.div(band_idx, n_orient, rounding_mode='floor') +
                 0.5) / math.ceil(per_band / n_orient)
        params = dict(
            theta=_logit(theta0),
            freq=_logit(freq0),
            sigma_x=torch.zeros(n),
            sigma_y=torch.zeros(n))
        for name, value in params.items():
            if learnable:
                self.register_parameter(f'raw_{name}', nn.Parameter(value))
            else:
                self.register_buffer(f'raw_{name}', value)

    # ----------------------------------------------------------- parameters
    def freq_range(self):
        """Per-filter ``(lo, hi)`` of ``W``, tensors of shape ``(F, )``."""
        n = self.num_filters
        device = self.raw_freq.device
        lo = torch.zeros(n, device=device)
        hi = torch.full((n, ), self.wmax, device=device)
        if self.frequency_split:
            hi[:n // 2] = self.wmax / 2
            lo[n // 2:] = self.wmax / 2
        return lo, hi

    def parameters_dict(self) -> Dict[str, Tensor]:
        """The squashed parameters ``theta, freq, sigma_x, sigma_y``, each of
        shape ``(F, )``, all inside their valid ranges."""
        theta = _squash(self.raw_theta, 0.0, math.pi)
        lo, hi = self.freq_range()
        freq = _squash(self.raw_freq, lo, hi)
        sigma_y = _squash(self.raw_sigma_y, self.sigma_y_lo, self.sigma_hi)
        sx_lo = 5.0 / (2 * math.pi * (1 - 2 * freq))
        sx_lo = torch.minimum(sx_lo, torch.full_like(sx_lo, self.sigma_hi))
        sigma_x = _squash(self.raw_sigma_x, sx_lo, self.sigma_hi)
        return dict(
            theta=theta, freq=freq, sigma_x=sigma_x, sigma_y=sigma_y)

    def kernels(self) -> Tensor:
        """The current filters, shape ``(F, K, K)``."""
        p = self.parameters_dict()
        return gabor_kernels(p['theta'], p['sigma_x'], p['sigma_y'],
                             p['freq'], self.kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        """Filter the grey level of ``x``.

        Args:
            x (Tensor): images ``(N, C, H, W)``.

        Returns:
            Tensor: responses ``(N, F, H', W')``.
        """
        if x.size(1) != 1:
            x = x.mean(dim=1, keepdim=True)
        weight = self.kernels().to(x.dtype).unsqueeze(1)
        pad = self.kernel_size // 2
        # replicate padding: a flat region stays flat up to the border
        x = F.pad(x, (pad, pad, pad, pad), mode='replicate')
        return F.conv2d(x, weight, stride=self.stride)

    def extra_repr(self) -> str:
        return (f'num_filters={self.num_filters}, kernel_size='
                f'{self.kernel_size}, frequency_split={self.frequency_split},'
                f' learnable={self.learnable}, stride={self.stride}')

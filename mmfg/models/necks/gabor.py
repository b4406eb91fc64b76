"""Gabor texture branch ("Learning Gabor Texture Features for Fine-Grained
Recognition", ICCV 2023; no official code).

A neck that adds a texture feature to the CNN feature of any MMPretrain CNN
backbone. Used with :class:`~mmfg.models.classifiers.ImageNeckClassifier`
(which hands the input image to the neck)::

    model = dict(
        type='ImageNeckClassifier',
        backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
        neck=dict(type='GaborTextureNeck', in_channels=2048),
        head=dict(type='LinearClsHead', num_classes=200, in_channels=2048))

Pipeline, for an input batch ``(B, 3, H, W)`` and backbone map
``(B, C, h, w)``:

1. **Gate.** A score map on a ``G x G`` grid over the image (``gate_source``:
   the channel mean of the CNN map, the local variance of the Gabor
   responses of the image, or the mean of both, each min-max normalised per
   image). Multi-scale proposals: square windows of side
   ``crop_ratio * s * H`` for every ``s`` in ``scales`` (``crop_ratio=0.25``:
   112-px windows on a 448 input); every window is scored by its mean score
   (one ``avg_pool2d`` per scale) and the best ``regions_per_scale`` per
   scale are kept (greedy suppression of overlapping windows of the same
   scale, ``nms_iou``). ``R = len(scales) * regions_per_scale`` regions.
2. **Zoom.** Each region is resampled (bilinear ``grid_sample``) to
   ``zoom_size x zoom_size`` (default: the base crop size, 112 for 448).
3. **Texture.** A learnable constrained Gabor bank
   (:class:`~mmfg.models.utils.GaborFilterBank`, 32 filters, half low / half
   high frequency) filters the grey level of each zoomed region; the
   statistical extractor turns each response into a token
   ``[mean, log std, soft histogram (8 learnable levels)]`` and refines the
   tokens with a filter-correlation self-attention (attention weights =
   softmax of the correlation between the standardised responses).
4. **Fusion.** Each region's texture vector ``(F * (L + 2))`` is mapped to
   ``C`` and weighted by a learned sigmoid gate; the mean over regions is
   added to the global-average-pooled CNN feature: output ``(B, C)``, the
   input of an ordinary classification head. All parts train jointly with
   the classification loss (the region choice itself is a hard selection).

Ablation switches (paper, CUB: fixed filters -4.3, no frequency split -2.7,
no histogram -3.8, no correlation -1.6): ``learnable_filters=False``,
``frequency_split=False``, ``histogram=False``, ``correlation=False``.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError
from ..classifiers.image_neck import last_feature_map
from ..utils.gabor import GaborFilterBank

__all__ = [
    'SoftHistogram', 'FilterCorrelationAttention', 'GaborTextureNeck',
    'select_regions', 'zoom_regions'
]


class _TriangularHistogram(torch.autograd.Function):
    """``mean_p relu(1 - |x - c| * w)`` with a hand-written backward.

    Same values and gradients as the autograd composition, but the
    ``(N, F, L, P)`` intermediate is built in place once in the forward and
    recomputed in the backward instead of being stored op by op (the
    histogram is the branch's hottest path: ~3x less memory traffic).
    """

    @staticmethod
    def forward(ctx, x: Tensor, c: Tensor, w: Tensor) -> Tensor:
        ctx.save_for_backward(x, c, w)
        m = x.unsqueeze(2) - c[None, :, :, None]  # (N, F, L, P)
        m.abs_().mul_(w[None, :, :, None]).neg_().add_(1).clamp_(min=0)
        return m.mean(dim=-1)

    @staticmethod
    def backward(ctx, g: Tensor):
        x, c, w = ctx.saved_tensors
        d = x.unsqueeze(2) - c[None, :, :, None]
        ad = d.abs()
        # g / P where the relu is active (|d| w < 1), else 0
        coef = torch.where(ad < (1 / w)[None, :, :, None],
                           (g / x.size(-1)).unsqueeze(-1), 0.0)
        term = d.sign_().mul_(coef)
        gx = -torch.einsum('nflp,fl->nfp', term, w)
        gc = term.sum(dim=(0, 3)) * w
        gw = -ad.mul_(coef).sum(dim=(0, 3))
        return gx, gc, gw


class SoftHistogram(nn.Module):
    """Learnable soft histogram with triangular bins.

    Bin ``l`` of channel ``f`` counts ``max(0, 1 - |x - c[f, l]| * w[f, l])``
    averaged over space; centres ``c`` and inverse widths ``w`` are learned
    (initialised evenly over ``[lo, hi]``, neighbouring bins overlapping by
    half).

    Args:
        num_channels (int): channels ``F``.
        num_levels (int): bins ``L``. Defaults to 8.
        lo (float): first initial centre. Defaults to -2 (inputs are
            standardised responses).
        hi (float): last initial centre. Defaults to 2.

    Shapes:
        ``(N, F, H, W)`` → ``(N, F, L)``.
    """

    def __init__(self,
                 num_channels: int,
                 num_levels: int = 8,
                 lo: float = -2.0,
                 hi: float = 2.0) -> None:
        super().__init__()
        centres = torch.linspace(lo, hi, num_levels)
        step = (hi - lo) / max(num_levels - 1, 1)
        self.centres = nn.Parameter(centres.repeat(num_channels, 1))
        self.inv_widths = nn.Parameter(
            torch.full((num_channels, num_levels), 1.0 / step))

    def forward(self, x: Tensor) -> Tensor:
        return _TriangularHistogram.apply(
            x.flatten(2), self.centres.to(x.dtype),
            self.inv_widths.abs().to(x.dtype))

    def reference(self, x: Tensor) -> Tensor:
        """The same histogram composed of autograd ops (for tests)."""
        diff = x.unsqueeze(2) - self.centres[None, :, :, None, None]
        w = self.inv_widths.abs()[None, :, :, None, None]
        return F.relu(1 - diff.abs() * w).mean(dim=(-2, -1))


class FilterCorrelationAttention(nn.Module):
    """Self-attention between filter tokens driven by response correlation.

    ``A = softmax(tau * corr)`` with ``corr[n, f, g]`` the correlation of the
    standardised responses of filters ``f`` and ``g`` (in ``[-1, 1]``) and a
    learnable temperature ``tau``; output ``tokens + proj(A @ tokens)``.

    Args:
        dim (int): token dimension ``D``.

    Shapes:
        tokens ``(N, F, D)``, standardised responses ``(N, F, P)`` →
        ``(N, F, D)``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.log_tau = nn.Parameter(torch.zeros(()))
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: Tensor, z: Tensor) -> Tensor:
        corr = torch.bmm(z, z.transpose(1, 2)) / z.size(-1)
        attn = torch.softmax(corr * self.log_tau.exp(), dim=-1)
        return tokens + self.proj(torch.bmm(attn, tokens))


def select_regions(score: Tensor,
                   window_ratios: Sequence[float],
                   regions_per_scale: int = 1,
                   nms_iou: float = 0.3) -> Tuple[Tensor, Tensor]:
    """Best square windows of a score map at several scales.

    Args:
        score (Tensor): score map ``(B, G, G)``.
        window_ratios (Sequence[float]): window sides as fractions of the
            image side (one scale each).
        regions_per_scale (int): windows kept per scale. Defaults to 1.
        nms_iou (float): a window overlapping a kept one of the same scale
            by more than this IoU is not kept. Defaults to 0.3.

    Returns:
        tuple[Tensor, Tensor]: boxes ``(B, R, 4)`` as ``(x1, y1, x2, y2)``
        fractions of the image side, and their mean scores ``(B, R)``;
        ``R = len(window_ratios) * regions_per_scale``, scale-major.
    """
    b, g, _ = score.shape
    boxes, scores = [], []
    for ratio in window_ratios:  # a handful of scales
        k = int(min(max(round(ratio * g), 1), g))
        win = F.avg_pool2d(score.unsqueeze(1), k, stride=1).flatten(1)
        n = g - k + 1
        pos = torch.arange(n * n, device=score.device)
        py, px = torch.div(pos, n, rounding_mode='floor'), pos % n
        for _ in range(regions_per_scale):
            best, idx = win.max(dim=1)  # (B, )
            iy, ix = torch.div(idx, n, rounding_mode='floor'), idx % n
            box = torch.stack([ix, iy, ix + k, iy + k], dim=1).float() / g
            boxes.append(box)
            scores.append(best)
            # IoU of equal k x k windows from their offsets
            ov = ((k - (py[None] - iy[:, None]).abs()).clamp(min=0) *
                  (k - (px[None] - ix[:, None]).abs()).clamp(min=0)).float()
            iou = ov / (2 * k * k - ov)
            win = win.masked_fill(iou > nms_iou, float('-inf'))
    return torch.stack(boxes, dim=1), torch.stack(scores, dim=1)


def zoom_regions(images: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Crop boxes from images and resample them to ``size x size``.

    Args:
        images (Tensor): ``(B, C, H, W)``.
        boxes (Tensor): ``(B, R, 4)`` as ``(x1, y1, x2, y2)`` fractions of
            the image side.
        size (int): output side.

    Returns:
        Tensor: crops ``(B * R, C, size, size)`` (image-major).
    """
    b, r, _ = boxes.shape
    x1, y1, x2, y2 = boxes.reshape(b * r, 4).to(images.dtype).unbind(1)
    theta = torch.zeros(b * r, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = x2 - x1
    theta[:, 0, 2] = x1 + x2 - 1
    theta[:, 1, 1] = y2 - y1
    theta[:, 1, 2] = y1 + y2 - 1
    grid = F.affine_grid(
        theta, (b * r, images.size(1), size, size), align_corners=False)
    src = images.unsqueeze(1).expand(-1, r, -1, -1, -1).reshape(
        b * r, *images.shape[1:])
    return F.grid_sample(
        src, grid, mode='bilinear', padding_mode='border',
        align_corners=False)


def _minmax(x: Tensor) -> Tensor:
    """Min-max normalise each map of ``(B, G, G)`` to ``[0, 1]``."""
    flat = x.flatten(1)
    lo = flat.min(dim=1, keepdim=True)[0]
    hi = flat.max(dim=1, keepdim=True)[0]
    return ((flat - lo) / (hi - lo).clamp(min=1e-12)).view_as(x)


@MODELS.register_module()
class GaborTextureNeck(nn.Module):
    """Gabor texture branch fused with the CNN feature (see module doc).

    Args:
        in_channels (int): channels ``C`` of the backbone's last map.
        num_filters (int): Gabor filters ``F``. Defaults to 32.
        kernel_size (int): Gabor kernel side ``K``. Defaults to 11.
        num_levels (int): soft-histogram levels ``L``. Defaults to 8.
        crop_ratio (float): base window side / image side (112 / 448).
            Defaults to 0.25.
        scales (Sequence[float]): window sides, in units of the base side.
            Defaults to ``(1.0, 1.5, 2.0)``.
        regions_per_scale (int): regions kept per scale. Defaults to 1.
        nms_iou (float): suppression IoU between windows of one scale.
            Defaults to 0.3.
        zoom_size (int, optional): side the regions are resampled to;
            ``None``: ``round(crop_ratio * H)`` at run time (112 for 448).
        gabor_stride (int): stride of the Gabor convolution on the zoomed
            regions. Defaults to 1.
        gate_source (str): ``'feature'`` (CNN activation), ``'texture'``
            (local variance of Gabor responses) or ``'both'``.
            Defaults to ``'both'``.
        gate_grid (int): side ``G`` of the gate's score grid. Defaults to 16.
        learnable_filters (bool): learn the Gabor parameters (ablation:
            ``False``). Defaults to True.
        frequency_split (bool): low/high frequency halves (ablation:
            ``False``). Defaults to True.
        histogram (bool): soft-histogram statistics (ablation: ``False``
            keeps mean and std only). Defaults to True.
        correlation (bool): filter-correlation attention (ablation:
            ``False``). Defaults to True.

    Shapes:
        ``forward(feats, images)``: ``feats`` the backbone output (tuple of
        maps, the last ``(B, C, h, w)`` is used), ``images`` ``(B, 3, H, W)``
        → a one-tuple ``((B, C), )``.
    """

    GATE_SOURCES = ('feature', 'texture', 'both')

    def __init__(self,
                 in_channels: int,
                 num_filters: int = 32,
                 kernel_size: int = 11,
                 num_levels: int = 8,
                 crop_ratio: float = 0.25,
                 scales: Sequence[float] = (1.0, 1.5, 2.0),
                 regions_per_scale: int = 1,
                 nms_iou: float = 0.3,
                 zoom_size: Optional[int] = None,
                 gabor_stride: int = 1,
                 gate_source: str = 'both',
                 gate_grid: int = 16,
                 learnable_filters: bool = True,
                 frequency_split: bool = True,
                 histogram: bool = True,
                 correlation: bool = True) -> None:
        super().__init__()
        if gate_source not in self.GATE_SOURCES:
            raise ConfigError(
                f'GaborTextureNeck: gate_source={gate_source!r}; choose one '
                f'of {self.GATE_SOURCES}.')
        if not 0 < crop_ratio * max(scales) <= 1:
            raise ConfigError(
                f'GaborTextureNeck: crop_ratio={crop_ratio} x scales='
                f'{tuple(scales)} gives windows outside (0, 1] of the image '
                'side; lower crop_ratio or the scales.')
        self.in_channels = in_channels
        self.crop_ratio = crop_ratio
        self.scales = tuple(scales)
        self.regions_per_scale = regions_per_scale
        self.nms_iou = nms_iou
        self.zoom_size = zoom_size
        self.gate_source = gate_source
        self.gate_grid = gate_grid
        self.histogram = histogram
        self.correlation = correlation
        self.bank = GaborFilterBank(
            num_filters=num_filters,
            kernel_size=kernel_size,
            frequency_split=frequency_split,
            learnable=learnable_filters,
            stride=gabor_stride)
        self.hist = SoftHistogram(num_filters, num_levels) if histogram \
            else None
        token_dim = 2 + (num_levels if histogram else 0)
        self.attn = FilterCorrelationAttention(token_dim) if correlation \
            else None
        tex_dim = num_filters * token_dim
        self.texture_dim = tex_dim
        self.norm = nn.LayerNorm(tex_dim)
        self.fuse = nn.Linear(tex_dim, in_channels)
        self.region_gate = nn.Linear(tex_dim, 1)

    @property
    def num_regions(self) -> int:
        """Regions per image ``R``."""
        return len(self.scales) * self.regions_per_scale

    # ----------------------------------------------------------------- gate
    def gate_scores(self, feat: Tensor, images: Tensor) -> Tensor:
        """Score map of the gate, ``(B, G, G)``, each map in ``[0, 1]``.

        Args:
            feat (Tensor): CNN map ``(B, C, h, w)``.
            images (Tensor): input batch ``(B, 3, H, W)``.
        """
        g = self.gate_grid
        maps = []
        if self.gate_source in ('feature', 'both'):
            act = F.interpolate(
                feat.detach().mean(dim=1, keepdim=True).float(), (g, g),
                mode='bilinear', align_corners=False)
            maps.append(_minmax(act[:, 0]))
        if self.gate_source in ('texture', 'both'):
            with torch.no_grad():
                r = self.bank(images.float())
                m1 = F.adaptive_avg_pool2d(r, g)
                m2 = F.adaptive_avg_pool2d(r * r, g)
                var = (m2 - m1 * m1).clamp(min=0).mean(dim=1)
            maps.append(_minmax(var))
        return sum(maps) / len(maps)

    def select(self, feat: Tensor, images: Tensor) -> Tuple[Tensor, Tensor]:
        """The regions the gate selects.

        Returns:
            tuple[Tensor, Tensor]: boxes ``(B, R, 4)`` (fractions of the
            image side, ``x1, y1, x2, y2``) and scores ``(B, R)``.
        """
        ratios = [self.crop_ratio * s for s in self.scales]
        return select_regions(
            self.gate_scores(feat, images), ratios, self.regions_per_scale,
            self.nms_iou)

    # -------------------------------------------------------------- texture
    def texture_features(self, crops: Tensor) -> Tensor:
        """Statistical texture vector of each crop.

        Args:
            crops (Tensor): ``(N, 3, Z, Z)``.

        Returns:
            Tensor: ``(N, F * (L + 2))`` (``(N, 2F)`` without histogram).
        """
        r4 = self.bank(crops)  # (N, F, h, w)
        r = r4.flatten(2)  # (N, F, P)
        mean = r.mean(dim=2, keepdim=True)
        std = (r.var(dim=2, unbiased=False, keepdim=True) + 1e-6).sqrt()
        z = (r - mean) / std
        parts = [mean, std.log()]
        if self.hist is not None:
            parts.append(self.hist(z.view_as(r4)))
        tokens = torch.cat(parts, dim=2)  # (N, F, D)
        if self.attn is not None:
            tokens = self.attn(tokens, z)
        return tokens.flatten(1)

    def forward(self,
                inputs: Sequence[Tensor],
                images: Optional[Tensor] = None) -> Tuple[Tensor]:
        """Fuse the CNN feature with the texture of the gated regions.

        Args:
            inputs (tuple[Tensor] | Tensor): backbone output; the last map
                ``(B, C, h, w)`` is used.
            images (Tensor): the input batch ``(B, 3, H, W)``.

        Returns:
            tuple[Tensor]: ``((B, C), )``.
        """
        if images is None:
            raise ConfigError(
                'GaborTextureNeck needs the input images: use '
                "model=dict(type='ImageNeckClassifier', ...) instead of "
                "'ImageClassifier' in the config.")
        feat = last_feature_map(inputs)
        b = feat.size(0)
        cnn = feat.mean(dim=(2, 3))
        boxes, _ = self.select(feat, images)
        k = self.bank.kernel_size
        size = self.zoom_size or max(
            int(round(self.crop_ratio * images.size(-1))), k)
        crops = zoom_regions(images, boxes, size)
        tex = self.norm(self.texture_features(crops))  # (B * R, T)
        gate = torch.sigmoid(self.region_gate(tex))
        fused = (gate * self.fuse(tex)).view(b, -1, self.in_channels)
        return (cnn + fused.mean(dim=1).to(cnn.dtype), )

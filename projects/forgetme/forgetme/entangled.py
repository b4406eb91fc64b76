"""The Entangled metric of ForgetMe, batched.

Definitions (ForgetMe, YuZhenyuLindy/ForgetMe ``tools/entangled.py``), for
an original image ``x``, an edited ("background", object removed) image
``y``, both RGB in ``[0, 1]``, and a binary mask ``m`` (1 = the region to
forget, "inner"; 0 = "outer"). Every statistic pools the pixels *and* the
three channels of a region into one population:

- ``S_in = 1 - RMSE(x_in, y_in)`` and ``S_out = RMSE(x_out, y_out)``;
- similarity ``S = 2 S_in (1 - S_out) / (S_in + 1 - S_out + eps)``;
- consistency of the edited image, ``C = M * V`` with
  ``M = 2 mu_in mu_out / (mu_in^2 + mu_out^2 + eps)`` and
  ``V = 2 sigma_in sigma_out / (sigma_in^2 + sigma_out^2 + eps)``, where
  ``mu``/``sigma`` are the mean / population standard deviation of ``y``
  in each region;
- **Entangled-D** (paired) ``= (alpha + beta) S C / (alpha C + beta S +
  eps)``, ``alpha = beta = 0.5``;
- **Entangled-S** (unpaired, no original needed) ``= C``.

An empty region gives an RMSE, mean and variance of 0 (as the reference).
"""
from typing import Dict, Optional

import torch
from torch import Tensor

EPS = 1e-6

__all__ = ['entangled', 'entangled_d', 'entangled_s', 'consistency',
           'binarize_mask']


def binarize_mask(mask: Tensor, like: Tensor, thresh: float = 0.5) -> Tensor:
    """Turn a mask into a float ``{0, 1}`` weight of shape ``(B, 1, H, W)``.

    Args:
        mask (Tensor): ``(B, H, W)`` or ``(B, 1, H, W)``; bool, floats in
            ``[0, 1]``, or integers: 0/1 labels, or grey levels 0..255 for
            an image where any value exceeds 1. A pixel is inner when its
            value (scaled to ``[0, 1]``) is ``>= thresh``.
        like (Tensor): the images ``(B, C, H, W)`` (shape and dtype).
        thresh (float): threshold in ``[0, 1]``. Defaults to 0.5.

    Returns:
        Tensor: ``(B, 1, H, W)`` in ``like``'s dtype.
    """
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError('Entangled: the mask must be (B, H, W) or '
                         f'(B, 1, H, W), got {tuple(mask.shape)}.')
    if mask.shape[0] != like.shape[0] or mask.shape[-2:] != like.shape[-2:]:
        raise ValueError(
            f'Entangled: mask {tuple(mask.shape)} does not match the images '
            f'{tuple(like.shape)} (batch and H, W must agree).')
    if mask.dtype == torch.bool:
        inner = mask
    elif not mask.is_floating_point():
        m = mask.to(like.dtype)
        # per image, without a host sync: 0/1 labels or 0..255 grey levels
        grey = m.amax(dim=(1, 2, 3), keepdim=True) > 1
        inner = m / torch.where(grey, 255., 1.).to(m) >= thresh
    else:
        inner = mask >= thresh
    return inner.to(like.dtype)


def _to_unit(img: Tensor, dtype: torch.dtype) -> Tensor:
    """uint8 images are divided by 255; float images are taken as [0, 1]."""
    if img.dtype == torch.uint8:
        return img.to(dtype) / 255.
    return img.to(dtype)


def _region_sums(stats: Tensor, w: Tensor) -> Tensor:
    """Sums of per-pixel statistics over the inner and the whole image.

    Args:
        stats (Tensor): ``(B, K, P)`` channel-summed per-pixel statistics.
        w (Tensor): ``(B, 1, P)`` inner weight in ``{0, 1}``.

    Returns:
        Tensor: ``(B, K, 2)``: ``[..., 0]`` inner sums, ``[..., 1]`` outer.
    """
    inner = torch.bmm(stats, w.transpose(1, 2))  # (B, K, 1)
    total = stats.sum(-1, keepdim=True)
    return torch.cat([inner, total - inner], -1)


def _moments(sums: Tensor, n: Tensor):
    """Mean and population variance from sums of ``y`` and ``y^2``."""
    denom = n.clamp_min(1)
    mean = sums[:, 0] / denom
    var = (sums[:, 1] / denom - mean**2).clamp_min(0)
    return mean, var  # both 0 for an empty region


def entangled(original: Optional[Tensor],
              edited: Tensor,
              mask: Tensor,
              alpha: float = 0.5,
              beta: float = 0.5,
              thresh: float = 0.5,
              dtype: torch.dtype = torch.float64) -> Dict[str, Tensor]:
    """Every term of the Entangled metric for a batch, in one pass.

    Each region statistic is a sum, so one reduction over the channels and
    one batched matrix product with the mask give all of them (no boolean
    gathering, no per-image loop, no host sync).

    Args:
        original (Tensor, optional): ``(B, 3, H, W)`` original images
            (float ``[0, 1]`` or uint8). None gives only the unpaired terms.
        edited (Tensor): ``(B, 3, H, W)`` edited / background images.
        mask (Tensor): ``(B, H, W)`` or ``(B, 1, H, W)``, 1 = forget region.
        alpha (float): weight of the consistency. Defaults to 0.5.
        beta (float): weight of the similarity. Defaults to 0.5.
        thresh (float): mask threshold. Defaults to 0.5.
        dtype (torch.dtype): compute dtype. Defaults to float64.

    Returns:
        dict[str, Tensor]: ``(B,)`` tensors ``consistency``, ``mean_term``,
        ``var_term``, ``entangled_s``; with ``original`` also ``s_in``,
        ``s_out``, ``similarity`` and ``entangled_d``.
    """
    y = _to_unit(edited, dtype)
    if original is not None and original.shape != edited.shape:
        raise ValueError(
            f'Entangled: original {tuple(original.shape)} and edited '
            f'{tuple(edited.shape)} images differ in shape.')
    b, c = y.shape[:2]
    w = binarize_mask(mask, y, thresh).flatten(2)  # (B, 1, P)
    y = y.flatten(2)
    stats = [y.sum(1), (y * y).sum(1)]
    if original is not None:
        stats.append(((_to_unit(original, dtype).flatten(2) - y)**2).sum(1))
    sums = _region_sums(torch.stack(stats, 1), w)  # (B, K, 2)
    n_in = w.sum((1, 2)) * c
    n = torch.stack([n_in, y.shape[-1] * c - n_in], -1)  # (B, 2)
    mean, var = _moments(sums, n)
    mu_in, mu_out = mean.unbind(-1)
    sd_in, sd_out = var.sqrt().unbind(-1)
    m = 2 * mu_in * mu_out / (mu_in**2 + mu_out**2 + EPS)
    v = 2 * sd_in * sd_out / (sd_in**2 + sd_out**2 + EPS)
    con = m * v
    out = dict(mean_term=m, var_term=v, consistency=con, entangled_s=con)
    if original is None:
        return out
    mse = (sums[:, 2] / n.clamp_min(1)).clamp_min(0)  # outer = total - inner
    rmse_in, rmse_out = mse.sqrt().unbind(-1)
    s_in = 1 - rmse_in
    s_out = rmse_out
    s = 2 * s_in * (1 - s_out) / (s_in + 1 - s_out + EPS)
    d = (alpha + beta) * s * con / (alpha * con + beta * s + EPS)
    out.update(s_in=s_in, s_out=s_out, similarity=s, entangled_d=d)
    return out


def consistency(edited: Tensor, mask: Tensor, thresh: float = 0.5,
                dtype: torch.dtype = torch.float64) -> Dict[str, Tensor]:
    """Consistency ``C = M * V`` of an edited image (= Entangled-S).

    Args:
        edited (Tensor): ``(B, 3, H, W)`` edited images, float ``[0, 1]``
            or uint8.
        mask (Tensor): ``(B, H, W)`` or ``(B, 1, H, W)``, 1 = forget region.
        thresh (float): mask threshold. Defaults to 0.5.
        dtype (torch.dtype): compute dtype. Defaults to float64.

    Returns:
        dict[str, Tensor]: ``mean_term`` (M), ``var_term`` (V) and
        ``consistency`` (C), each ``(B,)``.
    """
    out = entangled(None, edited, mask, thresh=thresh, dtype=dtype)
    return {k: out[k] for k in ('mean_term', 'var_term', 'consistency')}


def entangled_d(original: Tensor, edited: Tensor, mask: Tensor,
                alpha: float = 0.5, beta: float = 0.5,
                thresh: float = 0.5) -> Tensor:
    """Entangled-D (paired), ``(B,)``; see :func:`entangled`."""
    return entangled(original, edited, mask, alpha, beta,
                     thresh)['entangled_d']


def entangled_s(edited: Tensor, mask: Tensor, thresh: float = 0.5) -> Tensor:
    """Entangled-S (unpaired) = consistency, ``(B,)``; see :func:`entangled`.
    """
    return consistency(edited, mask, thresh)['consistency']

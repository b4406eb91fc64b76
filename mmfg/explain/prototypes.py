"""Prototype explanation geometry: pure, batched functions (no I/O).

Shared by every prototype model (ProtoPNet, ST-ProtoPNet, ProtoTree, ...):

- :func:`upsample_activation` maps a latent activation map ``(h, w)`` (or a
  batch ``(..., h, w)``) to the input resolution ``(H, W)`` by bicubic
  interpolation (identical to OpenCV's ``INTER_CUBIC`` that the official
  ProtoPNet code uses).
- :func:`percentile_threshold` / :func:`high_activation_mask` /
  :func:`high_activation_box` give the high-activation region (the official
  "95th percentile" crop) of upsampled maps.
- :func:`receptive_field_box` maps a latent position to the image region
  that position dominates after upsampling. It only needs the map size and
  the input size, never the layers of a particular architecture.
- :func:`argmax_location` and :func:`box_around` give the point of highest
  upsampled activation and the fixed-size box around it (the consistency /
  stability protocol of Huang et al., ICCV 2023).

Boxes are ``(x1, y1, x2, y2)`` in pixels of the tensor the model sees, with
``x2``/``y2`` exclusive (pixel ``i`` spans ``[i, i + 1)``, see
``docs/data_fields.md``); they are returned as int64 tensors (or numpy
arrays when a numpy array was given).
"""
from typing import Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'upsample_activation', 'percentile_threshold', 'high_activation_mask',
    'high_activation_box', 'receptive_field_box', 'argmax_location',
    'box_around', 'boxes_contain_points'
]

ArrayLike = Union[Tensor, np.ndarray]


def _to_tensor(x: ArrayLike) -> Tuple[Tensor, bool]:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    return x, False


def _back(x: Tensor, was_numpy: bool) -> ArrayLike:
    return x.cpu().numpy() if was_numpy else x


def _interp_matrix(n_in: int, n_out: int, mode: str, device,
                   dtype=torch.float32) -> Tensor:
    """``(n_out, n_in)`` matrix of 1-D resampling: interpolating the
    identity gives exactly the weights ``F.interpolate`` uses (borders
    included), so a separable 2-D resize is two matrix products."""
    eye = torch.eye(n_in, device=device, dtype=dtype).view(n_in, 1, n_in, 1)
    kwargs = {} if mode == 'nearest' else dict(align_corners=False)
    cols = F.interpolate(eye, size=(n_out, 1), mode=mode, **kwargs)
    return cols.view(n_in, n_out).t().contiguous()


def upsample_activation(act: ArrayLike,
                        size: Sequence[int],
                        mode: str = 'bicubic',
                        chunk: int = 1024) -> ArrayLike:
    """Upsample latent activation maps to the input resolution.

    Bicubic (the default) equals OpenCV's ``INTER_CUBIC`` that the official
    code uses and ``F.interpolate(..., 'bicubic', align_corners=False)``;
    it is computed as ``A_h @ act @ A_w^T`` with the separable interpolation
    matrices (two batched matmuls, several times faster than the
    interpolation kernel for many small maps).

    Args:
        act (Tensor | np.ndarray): ``(h, w)``, ``(P, h, w)`` or
            ``(B, P, h, w)`` (any number of leading dims).
        size (Sequence[int]): output ``(H, W)``.
        mode (str): ``'bicubic'`` (default, as the official code),
            ``'bilinear'`` or ``'nearest'``.
        chunk (int): maps resampled at a time (bounds peak memory).

    Returns:
        Tensor | np.ndarray: ``(..., H, W)`` float32, same leading dims and
        the same kind (tensor / array) as ``act``.
    """
    t, was_np = _to_tensor(act)
    if t.dim() < 2:
        raise ValueError(f'act must have at least 2 dims (h, w), got shape '
                         f'{tuple(t.shape)}')
    lead = t.shape[:-2]
    h, w = t.shape[-2:]
    H, W = int(size[0]), int(size[1])
    flat = t.reshape(-1, h, w).float()
    a_h = _interp_matrix(h, H, mode, flat.device)  # (H, h)
    a_w = _interp_matrix(w, W, mode, flat.device).t()  # (w, W)
    outs = [
        torch.matmul(torch.matmul(a_h, flat[i:i + chunk]), a_w)
        for i in range(0, flat.shape[0], max(chunk, 1))
    ]
    out = torch.cat(outs, 0) if outs else flat.new_zeros(0, H, W)
    return _back(out.reshape(*lead, H, W), was_np)


def percentile_threshold(maps: ArrayLike, percentile: float = 95.) -> \
        ArrayLike:
    """Per-map percentile with linear interpolation (as ``np.percentile``).

    Args:
        maps (Tensor | np.ndarray): ``(..., H, W)``.
        percentile (float): in ``[0, 100]``.

    Returns:
        Tensor | np.ndarray: ``(...)`` thresholds.
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f'percentile must be in [0, 100], got {percentile}')
    t, was_np = _to_tensor(maps)
    flat = t.reshape(*t.shape[:-2], -1).float()
    n = flat.shape[-1]
    pos = percentile / 100. * (n - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    # The two order statistics sorted[lo], sorted[hi] from one partial sort
    # of the smaller tail (about 2.5x faster than two kthvalue calls).
    if n - lo <= hi + 1:
        top = flat.topk(n - lo, dim=-1, largest=True, sorted=True).values
        v_lo = top[..., -1]
        v_hi = top[..., -2] if hi > lo else v_lo
    else:
        low = flat.topk(hi + 1, dim=-1, largest=False, sorted=True).values
        v_hi = low[..., -1]
        v_lo = low[..., -2] if hi > lo else v_hi
    thr = v_lo + (v_hi - v_lo) * (pos - lo)
    return _back(thr, was_np)


def high_activation_mask(maps: ArrayLike,
                         percentile: float = 95.) -> ArrayLike:
    """Pixels at or above the per-map percentile.

    Args:
        maps (Tensor | np.ndarray): upsampled maps ``(..., H, W)``.
        percentile (float): threshold percentile.

    Returns:
        Tensor | np.ndarray: bool ``(..., H, W)``.
    """
    t, was_np = _to_tensor(maps)
    thr = percentile_threshold(t, percentile)
    return _back(t.float() >= thr[..., None, None], was_np)


def _mask_box(mask: Tensor) -> Tensor:
    """Tight box of the True pixels of ``mask (..., H, W)`` → ``(..., 4)``.

    Empty masks give ``(0, 0, 0, 0)``.
    """
    H, W = mask.shape[-2:]
    rows = mask.any(-1)  # (..., H)
    cols = mask.any(-2)  # (..., W)
    y1 = rows.int().argmax(-1)
    y2 = H - rows.flip(-1).int().argmax(-1)
    x1 = cols.int().argmax(-1)
    x2 = W - cols.flip(-1).int().argmax(-1)
    box = torch.stack([x1, y1, x2, y2], -1).long()
    empty = ~rows.any(-1)
    return box.masked_fill(empty[..., None], 0)


def high_activation_box(maps: ArrayLike,
                        percentile: float = 95.) -> ArrayLike:
    """Box of the high-activation region of upsampled maps.

    The tight box around all pixels whose activation is at or above the
    ``percentile``-th percentile of their map (ProtoPNet's high-activation
    crop).

    Args:
        maps (Tensor | np.ndarray): upsampled maps ``(..., H, W)``.
        percentile (float): threshold percentile (95 in ProtoPNet).

    Returns:
        Tensor | np.ndarray: int64 ``(..., 4)`` boxes ``(x1, y1, x2, y2)``,
        ``x2``/``y2`` exclusive.
    """
    t, was_np = _to_tensor(maps)
    return _back(_mask_box(high_activation_mask(t, percentile)), was_np)


def _profile_box(n_lat: int, n_img: int, threshold: float, mode: str,
                 device) -> Tuple[Tensor, Tensor]:
    """1-D extent of every latent index after upsampling.

    Upsamples the ``n_lat`` one-hot vectors to length ``n_img`` and returns
    the first / one-past-last output index whose response is at least
    ``threshold`` times that vector's peak.
    """
    eye = torch.eye(n_lat, device=device).view(n_lat, 1, n_lat, 1)
    kwargs = {} if mode == 'nearest' else dict(align_corners=False)
    prof = F.interpolate(eye, size=(n_img, 1), mode=mode, **kwargs)
    prof = prof.view(n_lat, n_img)
    peak = prof.max(-1, keepdim=True).values
    keep = prof >= threshold * peak if threshold > 0 else prof > 0
    lo = keep.int().argmax(-1)
    hi = n_img - keep.flip(-1).int().argmax(-1)
    return lo, hi


def receptive_field_box(pos_h: ArrayLike,
                        pos_w: ArrayLike,
                        map_hw: Sequence[int],
                        img_hw: Sequence[int],
                        threshold: float = 0.5,
                        mode: str = 'bicubic') -> ArrayLike:
    """Image region of latent positions, derived by upsampling.

    The box of latent position ``(h, w)`` is the set of input pixels where
    the upsampled indicator map of that position reaches at least
    ``threshold`` times its peak. Upsampling is separable, so the box is the
    product of two 1-D extents computed once per map size. With the default
    (bicubic, 0.5) a position maps to its grid cell widened by about 6% of a
    cell on each side; ``threshold=0`` gives the full bicubic support (the
    cell plus about 1.5 cells each side); ``mode='nearest'`` gives exactly the
    grid cell. Nothing depends on the backbone's layers.

    Args:
        pos_h (Tensor | np.ndarray): ``(N,)`` latent row indices.
        pos_w (Tensor | np.ndarray): ``(N,)`` latent column indices.
        map_hw (Sequence[int]): latent map size ``(h, w)``.
        img_hw (Sequence[int]): input size ``(H, W)``.
        threshold (float): fraction of the peak in ``[0, 1]``.
        mode (str): interpolation mode (``'bicubic'``, ``'bilinear'``,
            ``'nearest'``).

    Returns:
        Tensor | np.ndarray: int64 ``(N, 4)`` boxes ``(x1, y1, x2, y2)``,
        ``x2``/``y2`` exclusive, clipped to the image.
    """
    ph, was_np = _to_tensor(pos_h)
    pw, _ = _to_tensor(pos_w)
    ph, pw = ph.long(), pw.long()
    dev = ph.device
    y_lo, y_hi = _profile_box(int(map_hw[0]), int(img_hw[0]), threshold,
                              mode, dev)
    x_lo, x_hi = _profile_box(int(map_hw[1]), int(img_hw[1]), threshold,
                              mode, dev)
    box = torch.stack([x_lo[pw], y_lo[ph], x_hi[pw], y_hi[ph]], -1)
    return _back(box.long(), was_np)


def argmax_location(maps: ArrayLike) -> ArrayLike:
    """Pixel of the highest value of each map (first one in raster order).

    Args:
        maps (Tensor | np.ndarray): ``(..., H, W)``.

    Returns:
        Tensor | np.ndarray: int64 ``(..., 2)`` as ``(x, y)`` pixel indices.
    """
    t, was_np = _to_tensor(maps)
    W = t.shape[-1]
    idx = t.reshape(*t.shape[:-2], -1).argmax(-1)
    return _back(torch.stack([idx % W, idx // W], -1).long(), was_np)


def box_around(points: ArrayLike, half_size: int,
               img_hw: Sequence[int]) -> ArrayLike:
    """Square box of side ``2 * half_size`` centred at pixel ``points``.

    Clipped to the image as in the EvalProtoPNet protocol
    (``[max(0, c - s), min(size, c + s)]``, inclusive bounds there; use
    :func:`boxes_contain_points` with ``inclusive=True`` to test against it).

    Args:
        points (Tensor | np.ndarray): ``(..., 2)`` integer ``(x, y)``.
        half_size (int): half side (36 for a 72-pixel box at 224 input).
        img_hw (Sequence[int]): ``(H, W)``.

    Returns:
        Tensor | np.ndarray: int64 ``(..., 4)`` boxes ``(x1, y1, x2, y2)``.
    """
    t, was_np = _to_tensor(points)
    t = t.long()
    H, W = int(img_hw[0]), int(img_hw[1])
    x, y = t[..., 0], t[..., 1]
    box = torch.stack([(x - half_size).clamp_min(0),
                       (y - half_size).clamp_min(0),
                       (x + half_size).clamp_max(W),
                       (y + half_size).clamp_max(H)], -1)
    return _back(box, was_np)


def boxes_contain_points(boxes: ArrayLike,
                         points: ArrayLike,
                         inclusive: bool = True) -> ArrayLike:
    """Which points lie in which boxes, batched.

    Args:
        boxes (Tensor | np.ndarray): ``(..., K, 4)`` ``(x1, y1, x2, y2)``.
        points (Tensor | np.ndarray): ``(..., Q, 2)`` ``(x, y)``; same
            leading dims as ``boxes`` (or broadcastable).
        inclusive (bool): count points on the far edges ``x2``/``y2`` as
            inside (the EvalProtoPNet convention); otherwise the box is
            half-open.

    Returns:
        Tensor | np.ndarray: bool ``(..., K, Q)``.
    """
    b, was_np = _to_tensor(boxes)
    p, _ = _to_tensor(points)
    b = b.to(torch.float64)[..., :, None, :]
    p = p.to(torch.float64)[..., None, :, :]
    x, y = p[..., 0], p[..., 1]
    if inclusive:
        inside = (x >= b[..., 0]) & (x <= b[..., 2]) & (y >= b[..., 1]) & \
            (y <= b[..., 3])
    else:
        inside = (x >= b[..., 0]) & (x < b[..., 2]) & (y >= b[..., 1]) & \
            (y < b[..., 3])
    return _back(inside, was_np)

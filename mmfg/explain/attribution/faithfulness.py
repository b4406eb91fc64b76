"""Faithfulness of attribution maps: insertion / deletion, pointing, mass.

Public signatures (stable)::

    make_baseline(inputs, kind='zeros', blur_sigma=5., mean=None, std=None)
        -> (B, 3, H, W)
    pixel_ranks(maps) -> (B, H, W) int64      # 0 = most important pixel
    region_ranks(masks) -> (H, W) int64       # masks in selection order
    perturbation_curves(forward_fn, inputs, baseline, ranks, num_units,
                        targets, steps, mode='insertion', chunk_size=64)
        -> (B, steps + 1)
    insertion_deletion(forward_fn, inputs, targets, maps=None, ranks=None,
                       num_units=None, steps=32, baseline='zeros', ...)
        -> dict(insertion, deletion, insertion_auc, deletion_auc)
    reference_curve(...)                      # the per-step loop
    curve_auc(curves) -> (B,)
    highest_confidence(curves, upto=0.25) -> (B,)
    pointing_game(maps, boxes, tolerance=0.) -> (B,) bool
    mass_inside_box(maps, boxes) -> (B,)

Insertion / deletion (Petsiuk et al., RISE, BMVC 2018; the protocol of
SMDL, Chen et al., ICLR 2024): the pixels (or regions) are revealed in the
attribution's order, most important first, on top of a baseline image
(insertion) or replaced by the baseline in that order (deletion); the curve
is the target-class softmax probability after ``k / steps`` of the units,
``k = 0..steps``, and the AUC is its trapezoid area over ``[0, 1]``.

Both orders share one representation: a *rank* per pixel (its position in
the order; a region order gives every pixel of region ``r`` the rank ``r``)
and ``num_units`` (pixels or regions) per image; step ``k`` perturbs the
pixels with ``rank < round(k / steps * num_units)``. All steps of all
images go through the model in chunks of ``chunk_size`` images, built on the
device from the ranks (no ``(steps, H, W)`` stack is kept).

``forward_fn`` is any callable ``(N, 3, H, W) -> (N, C)`` logits (e.g.
``lambda x: model(x, mode='tensor')`` for an MMPretrain classifier).
"""
from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    'make_baseline', 'pixel_ranks', 'region_ranks', 'perturbation_curves',
    'insertion_deletion', 'reference_curve', 'curve_auc',
    'highest_confidence', 'pointing_game', 'mass_inside_box',
    'target_probs', 'boxes_to_masks'
]

ForwardFn = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def target_probs(forward_fn: ForwardFn, images: torch.Tensor,
                 targets: torch.Tensor) -> torch.Tensor:
    """Softmax probability of each image's target class.

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (N, C)`` logits.
        images (Tensor): ``(N, 3, H, W)``.
        targets (Tensor): ``(N,)`` int64 classes.

    Returns:
        Tensor: ``(N,)`` probabilities.
    """
    probs = forward_fn(images).float().softmax(-1)
    return probs.gather(1, targets.view(-1, 1)).squeeze(1)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma)**2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode='replicate')
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def make_baseline(inputs: torch.Tensor,
                  kind: Union[str, torch.Tensor] = 'zeros',
                  blur_sigma: float = 5.,
                  mean: Optional[Sequence[float]] = None,
                  std: Optional[Sequence[float]] = None) -> torch.Tensor:
    """The image that stands for "no information".

    Args:
        inputs (Tensor): ``(B, 3, H, W)`` model inputs (normalised).
        kind (str | Tensor): ``'zeros'`` (zero input: the dataset mean
            colour after normalisation), ``'black'`` (pixel value 0; needs
            ``mean`` and ``std`` of the normalisation), ``'mean'`` (each
            image's per-channel mean), ``'blur'`` (Gaussian blur of the
            image, ``blur_sigma`` pixels), or a tensor broadcastable to
            ``inputs``.
        blur_sigma (float): blur standard deviation.
        mean (Sequence[float], optional): normalisation mean (``'black'``).
        std (Sequence[float], optional): normalisation std (``'black'``).

    Returns:
        Tensor: ``(B, 3, H, W)``.
    """
    if isinstance(kind, torch.Tensor):
        return kind.to(inputs).expand_as(inputs)
    if kind == 'zeros':
        return torch.zeros_like(inputs)
    if kind == 'mean':
        return inputs.mean((2, 3), keepdim=True).expand_as(inputs).clone()
    if kind == 'blur':
        return _gaussian_blur(inputs, float(blur_sigma))
    if kind == 'black':
        if mean is None or std is None:
            raise ValueError("baseline 'black' needs the normalisation mean "
                             'and std (data_preprocessor.mean / std).')
        m = torch.as_tensor(mean, dtype=inputs.dtype,
                            device=inputs.device).view(1, -1, 1, 1)
        s = torch.as_tensor(std, dtype=inputs.dtype,
                            device=inputs.device).view(1, -1, 1, 1)
        return (-m / s).expand_as(inputs).clone()
    raise ValueError(f"unknown baseline {kind!r}; use 'zeros', 'black', "
                     "'mean', 'blur' or a tensor.")


def pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """Rank of every pixel in descending map order (ties: raster order).

    Args:
        maps (Tensor): ``(B, H, W)`` attribution maps.

    Returns:
        Tensor: ``(B, H, W)`` int64, ``0`` for the most important pixel.
    """
    b, h, w = maps.shape
    order = torch.sort(-maps.reshape(b, -1).float(), dim=1, stable=True)[1]
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order,
                   torch.arange(h * w, device=maps.device).expand(b, -1))
    return ranks.view(b, h, w)


def region_ranks(masks: torch.Tensor) -> torch.Tensor:
    """Pixel ranks of an ordered list of regions.

    Args:
        masks (Tensor): ``(m, H, W)`` bool, most important region first;
            a pixel in several regions takes the first; a pixel in none
            gets rank ``m`` (never perturbed before the last step).

    Returns:
        Tensor: ``(H, W)`` int64 region rank of each pixel.
    """
    m = masks.shape[0]
    idx = torch.arange(m, device=masks.device).view(-1, 1, 1)
    return torch.where(masks.bool(), idx, m).amin(0)


def _thresholds(num_units: torch.Tensor, steps: int) -> torch.Tensor:
    k = torch.arange(steps + 1, device=num_units.device, dtype=torch.float64)
    return torch.round(k[None] / steps *
                       num_units.double()[:, None]).long()  # (B, S + 1)


@torch.no_grad()
def perturbation_curves(forward_fn: ForwardFn,
                        inputs: torch.Tensor,
                        baseline: torch.Tensor,
                        ranks: torch.Tensor,
                        num_units: Union[int, torch.Tensor],
                        targets: torch.Tensor,
                        steps: int,
                        mode: str = 'insertion',
                        chunk_size: int = 64) -> torch.Tensor:
    """Insertion or deletion curves of a batch, all steps batched.

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (N, C)`` logits.
        inputs (Tensor): ``(B, 3, H, W)``.
        baseline (Tensor): ``(B, 3, H, W)`` (see :func:`make_baseline`).
        ranks (Tensor): ``(B, H, W)`` int64 pixel ranks.
        num_units (int | Tensor): units (pixels or regions) per image,
            ``(B,)`` or one int.
        targets (Tensor): ``(B,)`` int64 classes.
        steps (int): number of steps ``S`` (curves have ``S + 1`` points).
        mode (str): ``'insertion'`` or ``'deletion'``.
        chunk_size (int): images per forward pass.

    Returns:
        Tensor: ``(B, S + 1)`` target probabilities.
    """
    if mode not in ('insertion', 'deletion'):
        raise ValueError(f"mode must be 'insertion' or 'deletion', got "
                         f'{mode!r}.')
    b = inputs.shape[0]
    dev = inputs.device
    units = torch.as_tensor(num_units, device=dev).expand(b)
    thr = _thresholds(units, steps).reshape(-1)  # (B * (S + 1),)
    img_idx = torch.arange(b, device=dev).repeat_interleave(steps + 1)
    out = []
    for start in range(0, img_idx.numel(), chunk_size):
        sl = slice(start, start + chunk_size)
        i = img_idx[sl]
        mask = (ranks[i] < thr[sl].view(-1, 1, 1)).unsqueeze(1)
        if mode == 'deletion':
            mask = ~mask
        images = torch.where(mask, inputs[i], baseline[i])
        out.append(target_probs(forward_fn, images, targets[i]))
    return torch.cat(out).view(b, steps + 1)


@torch.no_grad()
def reference_curve(forward_fn: ForwardFn,
                    image: torch.Tensor,
                    baseline: torch.Tensor,
                    order: torch.Tensor,
                    target: int,
                    steps: int,
                    mode: str = 'insertion') -> torch.Tensor:
    """The straightforward per-step loop (one forward pass per step).

    Slow on purpose: the reference :func:`perturbation_curves` is tested
    and benchmarked against.

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (N, C)`` logits.
        image (Tensor): ``(3, H, W)``.
        baseline (Tensor): ``(3, H, W)``.
        order (Tensor): ``(U,)`` flat pixel indices, most important first
            (pixel order), or a list of ``(H, W)`` region masks.
        target (int): class.
        steps (int): number of steps.
        mode (str): ``'insertion'`` or ``'deletion'``.

    Returns:
        Tensor: ``(steps + 1,)`` target probabilities.
    """
    h, w = image.shape[-2:]
    units = len(order)
    vals = []
    for k in range(steps + 1):
        n = int(round(k / steps * units))
        mask = torch.zeros(h * w, dtype=torch.bool, device=image.device)
        if isinstance(order, torch.Tensor) and order.ndim == 1:
            mask[order[:n]] = True
        else:
            for r in range(n):
                mask |= order[r].reshape(-1).bool()
        mask = mask.view(1, h, w)
        if mode == 'deletion':
            mask = ~mask
        img = torch.where(mask, image, baseline)
        vals.append(
            target_probs(forward_fn, img[None],
                         torch.tensor([target], device=image.device))[0])
    return torch.stack(vals)


def curve_auc(curves: torch.Tensor) -> torch.Tensor:
    """Trapezoid area of curves sampled uniformly on ``[0, 1]``.

    Args:
        curves (Tensor): ``(B, S + 1)``.

    Returns:
        Tensor: ``(B,)``.
    """
    steps = curves.shape[-1] - 1
    return (curves.sum(-1) - 0.5 * (curves[..., 0] + curves[..., -1])) / steps


def highest_confidence(curves: torch.Tensor,
                       upto: float = 0.25) -> torch.Tensor:
    """Best target probability while at most ``upto`` of the units are
    revealed (SMDL's "highest confidence (0-25%)").

    Args:
        curves (Tensor): ``(B, S + 1)`` insertion curves.
        upto (float): fraction of the units in ``[0, 1]``.

    Returns:
        Tensor: ``(B,)``.
    """
    steps = curves.shape[-1] - 1
    last = int(np.floor(upto * steps + 1e-9))
    return curves[..., :last + 1].amax(-1)


def insertion_deletion(forward_fn: ForwardFn,
                       inputs: torch.Tensor,
                       targets: torch.Tensor,
                       maps: Optional[torch.Tensor] = None,
                       ranks: Optional[torch.Tensor] = None,
                       num_units: Optional[Union[int, torch.Tensor]] = None,
                       steps: int = 32,
                       baseline: Union[str, torch.Tensor] = 'zeros',
                       blur_sigma: float = 5.,
                       mean: Optional[Sequence[float]] = None,
                       std: Optional[Sequence[float]] = None,
                       chunk_size: int = 64) -> Dict[str, torch.Tensor]:
    """Insertion and deletion curves and AUCs of a batch.

    Give either ``maps`` (pixel order) or ``ranks`` + ``num_units`` (e.g.
    region order from :func:`region_ranks`).

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (N, C)`` logits.
        inputs (Tensor): ``(B, 3, H, W)``.
        targets (Tensor): ``(B,)`` int64 classes.
        maps (Tensor, optional): ``(B, H, W)`` attribution maps.
        ranks (Tensor, optional): ``(B, H, W)`` int64 ranks.
        num_units (int | Tensor, optional): units per image with ``ranks``.
        steps (int): steps per curve.
        baseline (str | Tensor): see :func:`make_baseline`.
        blur_sigma (float): for ``baseline='blur'``.
        mean (Sequence[float], optional): for ``baseline='black'``.
        std (Sequence[float], optional): for ``baseline='black'``.
        chunk_size (int): images per forward pass.

    Returns:
        dict: ``insertion``, ``deletion`` ``(B, S + 1)``,
        ``insertion_auc``, ``deletion_auc`` ``(B,)``.
    """
    if (maps is None) == (ranks is None):
        raise ValueError('insertion_deletion: give exactly one of maps '
                         '(pixel order) or ranks (with num_units).')
    if maps is not None:
        if maps.shape != inputs.shape[:1] + inputs.shape[2:]:
            raise ValueError(
                f'insertion_deletion: maps of shape {tuple(maps.shape)} do '
                f'not match the inputs {tuple(inputs.shape)}; expected '
                f'{tuple(inputs.shape[:1] + inputs.shape[2:])}.')
        ranks = pixel_ranks(maps)
        num_units = maps.shape[-1] * maps.shape[-2]
    elif num_units is None:
        raise ValueError('insertion_deletion: ranks need num_units.')
    base = make_baseline(inputs, baseline, blur_sigma, mean, std)
    out = {}
    for mode in ('insertion', 'deletion'):
        curves = perturbation_curves(forward_fn, inputs, base, ranks,
                                     num_units, targets, steps, mode,
                                     chunk_size)
        out[mode] = curves
        out[f'{mode}_auc'] = curve_auc(curves)
    return out


def boxes_to_masks(boxes: torch.Tensor, height: int,
                   width: int) -> torch.Tensor:
    """Pixels whose centre lies in any box (continuous coordinates).

    Args:
        boxes (Tensor): ``(B, N, 4)`` ``x1, y1, x2, y2``; rows of NaN are
            padding.
        height (int): ``H``.
        width (int): ``W``.

    Returns:
        Tensor: ``(B, H, W)`` bool.
    """
    ys = torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5
    xs = torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5
    b = boxes[..., None, None]  # (B, N, 4, 1, 1)
    inside = (xs >= b[:, :, 0]) & (xs <= b[:, :, 2]) & \
        (ys[:, None] >= b[:, :, 1]) & (ys[:, None] <= b[:, :, 3])
    return inside.any(1)


def pointing_game(maps: torch.Tensor,
                  boxes: torch.Tensor,
                  tolerance: float = 0.) -> torch.Tensor:
    """Whether each map's maximum falls in a box (Zhang et al., 2016).

    Args:
        maps (Tensor): ``(B, H, W)``.
        boxes (Tensor): ``(B, N, 4)`` ``x1, y1, x2, y2`` in input pixels
            (NaN rows are padding).
        tolerance (float): box margin in pixels (the original uses 15 px
            at 224).

    Returns:
        Tensor: ``(B,)`` bool hits (first maximum in raster order).
    """
    b, h, w = maps.shape
    idx = maps.reshape(b, -1).argmax(1)
    y = (idx // w).to(boxes.dtype) + 0.5
    x = (idx % w).to(boxes.dtype) + 0.5
    x, y = x[:, None], y[:, None]
    t = tolerance
    hit = (x >= boxes[..., 0] - t) & (x <= boxes[..., 2] + t) & \
        (y >= boxes[..., 1] - t) & (y <= boxes[..., 3] + t)
    return hit.any(1)


def mass_inside_box(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Share of the positive attribution mass inside the boxes.

    Args:
        maps (Tensor): ``(B, H, W)`` (negative values count as 0).
        boxes (Tensor): ``(B, N, 4)`` input pixels (NaN rows are padding).

    Returns:
        Tensor: ``(B,)`` in ``[0, 1]`` (0 for an all-zero map).
    """
    pos = maps.float().clamp(min=0)
    inside = boxes_to_masks(boxes.float(), maps.shape[-2], maps.shape[-1])
    total = pos.flatten(1).sum(1)
    return (pos * inside).flatten(1).sum(1) / total.clamp(min=1e-12)

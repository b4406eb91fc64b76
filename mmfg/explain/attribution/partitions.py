"""Sub-region partitions of an image for subset-selection attribution.

Public signatures (stable)::

    slic_partition(img, n_segments=49, compactness=10., sigma=1.) -> (H, W)
    seeds_partition(img, n_segments=49, levels=4, iterations=4) -> (H, W)
    felzenszwalb_partition(img, scale=100., sigma=0.8, min_size=20) -> (H, W)
    grid_partition(height, width, patch) -> (H, W)
    saliency_grid_partition(saliency, patch, patches_per_region=1) -> (H, W)
    masks_partition(masks, image_shape, require_cover=False) -> (K, H, W)
    labels_to_masks(labels) -> (K, H, W) bool
    build_partition(cfg, img, saliency=None) -> (K, H, W) bool

A partition is a label image (``(H, W)`` int64, labels ``0..K-1``, every
pixel in exactly one region) or, for user masks, a stack of boolean masks.
Every function is pure (no I/O); images are ``(H, W, 3)`` uint8 RGB arrays
as the model sees them (after the test pipeline).

SEEDS (Van den Bergh et al., ECCV 2012) exists only in OpenCV's contrib
module ``cv2.ximgproc``; without it :func:`seeds_partition` raises a
:class:`~mmfg.utils.errors.ConfigError` naming the missing package.
"""
from typing import Optional, Sequence, Union

import numpy as np
import torch

from mmfg.utils.errors import ConfigError

__all__ = [
    'slic_partition', 'seeds_partition', 'felzenszwalb_partition',
    'grid_partition', 'saliency_grid_partition', 'masks_partition',
    'labels_to_masks', 'build_partition', 'PARTITIONS'
]

ArrayLike = Union[np.ndarray, torch.Tensor]


def _check_image(img: np.ndarray, who: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{who}: expected an (H, W, 3) RGB image, got shape '
                         f'{tuple(img.shape)}.')
    return img


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive labels ``0..K-1`` in order of first appearance."""
    _, inv = np.unique(labels.reshape(-1), return_inverse=True)
    return inv.reshape(labels.shape).astype(np.int64)


def slic_partition(img: np.ndarray,
                   n_segments: int = 49,
                   compactness: float = 10.,
                   sigma: float = 1.) -> np.ndarray:
    """SLIC superpixels (scikit-image).

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        n_segments (int): approximate number of superpixels.
        compactness (float): colour/space trade-off (larger = squarer).
        sigma (float): Gaussian pre-smoothing.

    Returns:
        np.ndarray: ``(H, W)`` int64 labels ``0..K-1``.
    """
    from skimage.segmentation import slic
    img = _check_image(img, 'slic_partition')
    labels = slic(img, n_segments=int(n_segments),
                  compactness=float(compactness), sigma=float(sigma),
                  start_label=0, channel_axis=-1)
    return _relabel(labels)


def seeds_partition(img: np.ndarray,
                    n_segments: int = 49,
                    levels: int = 4,
                    iterations: int = 4) -> np.ndarray:
    """SEEDS superpixels through OpenCV's contrib ``cv2.ximgproc``.

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        n_segments (int): number of superpixels asked for.
        levels (int): SEEDS block levels.
        iterations (int): refinement iterations.

    Returns:
        np.ndarray: ``(H, W)`` int64 labels ``0..K-1``.

    Raises:
        ConfigError: ``cv2.ximgproc`` is not available.
    """
    import cv2
    if not hasattr(cv2, 'ximgproc'):
        raise ConfigError(
            "partition type 'seeds' needs OpenCV's contrib module "
            'cv2.ximgproc, which this OpenCV build lacks. Install '
            '"opencv-contrib-python" (replacing opencv-python), or use '
            "type='slic' or type='felzenszwalb' (scikit-image).")
    img = _check_image(img, 'seeds_partition')
    h, w = img.shape[:2]
    seeds = cv2.ximgproc.createSuperpixelSEEDS(w, h, 3, int(n_segments),
                                               int(levels))
    seeds.iterate(np.ascontiguousarray(img[..., ::-1]), int(iterations))
    return _relabel(seeds.getLabels())


def felzenszwalb_partition(img: np.ndarray,
                           scale: float = 100.,
                           sigma: float = 0.8,
                           min_size: int = 20) -> np.ndarray:
    """Felzenszwalb-Huttenlocher graph segments (scikit-image).

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        scale (float): larger = larger segments.
        sigma (float): Gaussian pre-smoothing.
        min_size (int): minimum segment size in pixels.

    Returns:
        np.ndarray: ``(H, W)`` int64 labels ``0..K-1``.
    """
    from skimage.segmentation import felzenszwalb
    img = _check_image(img, 'felzenszwalb_partition')
    return _relabel(
        felzenszwalb(img, scale=float(scale), sigma=float(sigma),
                     min_size=int(min_size), channel_axis=-1))


def grid_partition(height: int, width: int, patch: int) -> np.ndarray:
    """Square patches in raster order (the last row/column may be smaller).

    Args:
        height (int): image height ``H``.
        width (int): image width ``W``.
        patch (int): patch side in pixels.

    Returns:
        np.ndarray: ``(H, W)`` int64 labels, ``ceil(H/p) * ceil(W/p)``
        regions.
    """
    if patch < 1:
        raise ValueError(f'grid_partition: patch must be >= 1, got {patch}.')
    cols = -(-width // patch)
    ys = np.arange(height)[:, None] // patch
    xs = np.arange(width)[None, :] // patch
    return (ys * cols + xs).astype(np.int64)


def saliency_grid_partition(saliency: ArrayLike,
                            patch: int,
                            patches_per_region: int = 1) -> np.ndarray:
    """Grid patches ranked by a prior saliency map, grouped into regions.

    The patches are sorted by their mean prior saliency (descending, ties
    in raster order); region ``r`` holds the patches of ranks
    ``r * k .. (r + 1) * k - 1`` with ``k = patches_per_region``, so region
    0 is the most salient group.

    Args:
        saliency (np.ndarray | Tensor): ``(H, W)`` prior map (e.g. Grad-CAM
            resized to the input).
        patch (int): patch side in pixels.
        patches_per_region (int): patches per region ``k``.

    Returns:
        np.ndarray: ``(H, W)`` int64 labels ``0..K-1``.
    """
    sal = saliency.detach().float().cpu().numpy() if isinstance(
        saliency, torch.Tensor) else np.asarray(saliency, dtype=np.float64)
    if sal.ndim != 2:
        raise ValueError('saliency_grid_partition: expected an (H, W) map, '
                         f'got shape {tuple(sal.shape)}.')
    if patches_per_region < 1:
        raise ValueError('saliency_grid_partition: patches_per_region must '
                         f'be >= 1, got {patches_per_region}.')
    grid = grid_partition(sal.shape[0], sal.shape[1], patch)
    n = int(grid.max()) + 1
    sums = np.bincount(grid.reshape(-1), sal.reshape(-1), n)
    means = sums / np.bincount(grid.reshape(-1), minlength=n)
    rank = np.empty(n, np.int64)
    rank[np.argsort(-means, kind='stable')] = np.arange(n)
    return rank[grid] // int(patches_per_region)


def labels_to_masks(labels: ArrayLike) -> torch.Tensor:
    """One boolean mask per label.

    Args:
        labels (np.ndarray | Tensor): ``(H, W)`` int labels ``0..K-1``.

    Returns:
        Tensor: ``(K, H, W)`` bool, each pixel in exactly one mask.
    """
    lab = torch.as_tensor(np.asarray(labels) if not isinstance(
        labels, torch.Tensor) else labels).long()
    k = int(lab.max()) + 1
    return lab[None] == torch.arange(k, device=lab.device)[:, None, None]


def masks_partition(masks: ArrayLike,
                    image_shape: Sequence[int],
                    require_cover: bool = False) -> torch.Tensor:
    """Validate user-given region masks.

    Args:
        masks (np.ndarray | Tensor): ``(K, H, W)`` bool/0-1 masks.
        image_shape (Sequence[int]): ``(H, W)`` of the model input.
        require_cover (bool): also require every pixel in exactly one mask.

    Returns:
        Tensor: ``(K, H, W)`` bool.

    Raises:
        ValueError: wrong shape, an empty mask, or (``require_cover``)
            pixels covered zero or several times.
    """
    m = torch.as_tensor(np.asarray(masks) if not isinstance(
        masks, torch.Tensor) else masks)
    h, w = int(image_shape[0]), int(image_shape[1])
    if m.ndim != 3 or tuple(m.shape[1:]) != (h, w):
        raise ValueError(
            f'region masks: expected shape (K, {h}, {w}) matching the model '
            f'input, got {tuple(m.shape)}. Resize the masks to the input '
            'size (after the test pipeline).')
    m = m.bool()
    empty = (~m.flatten(1).any(1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f'region masks: masks {empty} are empty; drop them.')
    if require_cover:
        cover = m.sum(0)
        if not bool((cover == 1).all()):
            raise ValueError(
                'region masks: require_cover=True but '
                f'{int((cover == 0).sum())} pixels are in no mask and '
                f'{int((cover > 1).sum())} in several.')
    return m


PARTITIONS = {
    'slic': slic_partition,
    'seeds': seeds_partition,
    'felzenszwalb': felzenszwalb_partition,
}


def build_partition(cfg: dict,
                    img: np.ndarray,
                    saliency: Optional[ArrayLike] = None) -> torch.Tensor:
    """Region masks of an image from a partition config.

    Args:
        cfg (dict): ``type`` in ``'slic'``, ``'seeds'``, ``'felzenszwalb'``
            (superpixel arguments follow), ``'grid'`` (``patch``),
            ``'saliency_grid'`` (``patch``, ``patches_per_region``; needs
            ``saliency``) or ``'masks'`` (``masks (K, H, W)``).
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB as the model sees it.
        saliency (np.ndarray | Tensor, optional): ``(H, W)`` prior map for
            ``'saliency_grid'``.

    Returns:
        Tensor: ``(K, H, W)`` bool region masks.
    """
    cfg = dict(cfg)
    kind = cfg.pop('type', 'slic')
    h, w = np.asarray(img).shape[:2]
    if kind in PARTITIONS:
        return labels_to_masks(PARTITIONS[kind](img, **cfg))
    if kind == 'grid':
        return labels_to_masks(grid_partition(h, w, **cfg))
    if kind == 'saliency_grid':
        if saliency is None:
            raise ConfigError("partition type 'saliency_grid' needs a prior "
                              'saliency map (e.g. prior_method="gradcam").')
        return labels_to_masks(saliency_grid_partition(saliency, **cfg))
    if kind == 'masks':
        return masks_partition(cfg.pop('masks'), (h, w), **cfg)
    raise ConfigError(
        f'unknown partition type {kind!r}; use one of '
        f"{sorted(PARTITIONS) + ['grid', 'saliency_grid', 'masks']}.")

"""Geometry shared by every mmfg transform: boxes, parts, masks, trans_mat.

All coordinates are *continuous* pixel coordinates: pixel ``i`` spans
``[i, i + 1)``, so the centre of pixel ``(col, row)`` is
``(col + 0.5, row + 0.5)``. In this convention

- a resize by factor ``s`` maps ``x -> x * s`` (what ``cv2.resize`` and
  PIL do with their half-pixel-centred sampling),
- a crop whose top-left pixel is ``(x0, y0)`` maps ``x -> x - x0``
  (padding by ``left`` pixels maps ``x -> x + left``),
- a horizontal flip of an image of width ``W`` maps ``x -> W - x``.

Every geometric transform describes what it did to the image as one 3x3
affine matrix and calls :func:`update_geometry`, which maps ``gt_bboxes``,
``gt_parts`` and ``gt_mask`` with it, applies the clipping rules and
left-multiplies ``results['trans_mat']``. Metrics map predictions back with
:func:`map_to_original`.

Rules:

- Boxes are clipped to the image (unless the transform was asked not to
  clip, mmcv's ``clip_object_border=False``). A box with no area inside the
  image is kept (never silently dropped) and marked ``False`` in
  ``results['gt_bboxes_valid']``; once invalid, a box stays invalid.
- A part that leaves the image becomes invisible and, like CUB's invisible
  parts, is stored as ``(0, 0, 0)``; invisible parts stay ``(0, 0, 0)``.
- A transform that mirrors the image (negative determinant: horizontal or
  vertical flip) swaps the rows of ``results['part_flip_pairs']``, because a
  mirrored left wing is a right wing. A diagonal flip is a 180-degree
  rotation, which mirrors nothing, so it does not swap.
- Masks are warped with nearest-neighbour sampling; pixels that come from
  outside the source (padding) are 0.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

__all__ = [
    'translate_matrix', 'scale_matrix', 'flip_matrix', 'apply_affine',
    'apply_affine_to_points', 'apply_affine_to_boxes', 'clip_boxes',
    'transform_parts', 'swap_part_pairs', 'warp_mask', 'update_geometry',
    'check_mask_aligned', 'compose_flip_directions', 'map_to_original'
]

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]

# (horizontal, vertical) bits of each flip direction.
_FLIP_BITS = {
    None: (False, False),
    'horizontal': (True, False),
    'vertical': (False, True),
    'diagonal': (True, True),
}
_BITS_TO_FLIP = {bits: name for name, bits in _FLIP_BITS.items()}


def translate_matrix(tx: float, ty: float) -> np.ndarray:
    """Affine matrix of a translation ``(x, y) -> (x + tx, y + ty)``.

    Args:
        tx (float): shift along x (a crop at ``x0`` is ``tx = -x0``).
        ty (float): shift along y.

    Returns:
        np.ndarray: float64 ``(3, 3)``.
    """
    return np.array([[1., 0., tx], [0., 1., ty], [0., 0., 1.]])


def scale_matrix(sx: float, sy: float) -> np.ndarray:
    """Affine matrix of a resize ``(x, y) -> (x * sx, y * sy)``.

    Args:
        sx (float): width scale factor (new width / old width).
        sy (float): height scale factor.

    Returns:
        np.ndarray: float64 ``(3, 3)``.
    """
    return np.array([[float(sx), 0., 0.], [0., float(sy), 0.], [0., 0., 1.]])


def flip_matrix(direction: str, img_shape: Tuple[int, int]) -> np.ndarray:
    """Affine matrix of a flip of an image of shape ``img_shape``.

    Args:
        direction (str): ``'horizontal'`` (``x -> W - x``), ``'vertical'``
            (``y -> H - y``) or ``'diagonal'`` (both).
        img_shape (tuple[int, int]): ``(H, W)`` of the flipped image.

    Returns:
        np.ndarray: float64 ``(3, 3)``.
    """
    if direction not in ('horizontal', 'vertical', 'diagonal'):
        raise ValueError("Flip direction must be 'horizontal', 'vertical' or "
                         f"'diagonal', got {direction!r}.")
    h, w = img_shape[:2]
    flip_x, flip_y = _FLIP_BITS[direction]
    mat = np.eye(3)
    if flip_x:
        mat[0, 0], mat[0, 2] = -1., float(w)
    if flip_y:
        mat[1, 1], mat[1, 2] = -1., float(h)
    return mat


def compose_flip_directions(first: Optional[str],
                            second: Optional[str]) -> Optional[str]:
    """Net flip direction of flipping by ``first`` and then by ``second``.

    Args:
        first (str | None): earlier flip direction (None: not flipped).
        second (str | None): later flip direction (None: not flipped).

    Returns:
        str | None: e.g. horizontal + horizontal -> None, horizontal +
        vertical -> 'diagonal'.
    """
    a, b = _FLIP_BITS[first], _FLIP_BITS[second]
    return _BITS_TO_FLIP[(a[0] != b[0], a[1] != b[1])]


def is_affine(mat: np.ndarray) -> bool:
    """Whether a ``(3, 3)`` matrix is affine (last row ``0, 0, 1``)."""
    return bool(np.array_equal(np.asarray(mat)[2], [0., 0., 1.]))


def apply_affine(xy: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine (or projective) matrix to ``(x, y)`` coordinates.

    Every pipeline transform is affine except ``RandomSkew``, whose
    homography divides by ``mat[2] . (x, y, 1)``; for an affine matrix that
    is 1 and the result is ``xy @ A.T + t``.

    Args:
        xy (np.ndarray): ``(..., 2)`` coordinates.
        mat (np.ndarray): ``(3, 3)`` affine matrix or homography.

    Returns:
        np.ndarray: float64 ``(..., 2)`` mapped coordinates.
    """
    xy = np.asarray(xy, dtype=np.float64)
    mat = np.asarray(mat, dtype=np.float64)
    out = xy @ mat[:2, :2].T + mat[:2, 2]
    if is_affine(mat):
        return out
    return out / (xy @ mat[2, :2] + mat[2, 2])[..., None]


def apply_affine_to_points(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Map points with an affine matrix (no visibility, no clipping).

    Args:
        points (np.ndarray): ``(N, 2)`` ``x, y`` coordinates.
        mat (np.ndarray): ``(3, 3)`` affine matrix.

    Returns:
        np.ndarray: float64 ``(N, 2)``.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return apply_affine(points, mat)


def apply_affine_to_boxes(boxes: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Map ``x1, y1, x2, y2`` boxes with an affine matrix (no clipping).

    The four corners are mapped and the axis-aligned box around them is
    returned, so flips keep ``x1 <= x2`` and ``y1 <= y2``.

    Args:
        boxes (np.ndarray): ``(N, 4)`` boxes ``x1, y1, x2, y2``.
        mat (np.ndarray): ``(3, 3)`` affine matrix.

    Returns:
        np.ndarray: float64 ``(N, 4)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = boxes.T
    xs = np.stack([x1, x2, x1, x2], axis=1)
    ys = np.stack([y1, y1, y2, y2], axis=1)
    corners = np.stack([xs, ys], axis=-1)  # (N, 4, 2)
    mapped = apply_affine(corners, mat)
    return np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=-1)


def clip_boxes(boxes: np.ndarray,
               img_shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to an image and tell which keep a non-empty area.

    Args:
        boxes (np.ndarray): ``(N, 4)`` boxes ``x1, y1, x2, y2``.
        img_shape (tuple[int, int]): ``(H, W)``.

    Returns:
        tuple[np.ndarray, np.ndarray]: the clipped float64 ``(N, 4)`` boxes
        and a bool ``(N,)`` array, True where the clipped box has positive
        width and height.
    """
    h, w = img_shape[:2]
    clipped = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, w)
    clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, h)
    valid = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return clipped, valid


def transform_parts(parts: np.ndarray, mat: np.ndarray,
                    img_shape: Tuple[int, int]) -> np.ndarray:
    """Map ``x, y, visible`` parts; parts outside the image become invisible.

    Args:
        parts (np.ndarray): ``(P, 3)`` rows ``x, y, visible``; invisible rows
            are ``0, 0, 0``.
        mat (np.ndarray): ``(3, 3)`` affine matrix.
        img_shape (tuple[int, int]): ``(H, W)`` of the image after the
            transform.

    Returns:
        np.ndarray: float32 ``(P, 3)``; rows of parts that are invisible, or
        that fall outside ``[0, W) x [0, H)``, are ``0, 0, 0``.
    """
    parts = np.asarray(parts, dtype=np.float32).reshape(-1, 3)
    h, w = img_shape[:2]
    xy = apply_affine(parts[:, :2], mat)
    inside = ((xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) &
              (xy[:, 1] < h))
    keep = (parts[:, 2] > 0) & inside
    out = np.zeros_like(parts)
    out[keep, :2] = xy[keep]
    out[keep, 2] = parts[keep, 2]
    return out


def swap_part_pairs(parts: np.ndarray,
                    pairs: Sequence[Sequence[int]]) -> np.ndarray:
    """Swap the rows of left/right part pairs (after a mirroring transform).

    Args:
        parts (np.ndarray): ``(P, 3)`` parts.
        pairs (Sequence[Sequence[int]]): 0-based ``(i, j)`` row pairs.

    Returns:
        np.ndarray: ``(P, 3)`` parts with rows ``i`` and ``j`` exchanged.
    """
    num = len(parts)
    perm = np.arange(num)
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError('`part_flip_pairs` must hold (i, j) pairs, got '
                             f'{pair!r}.')
        i, j = int(pair[0]), int(pair[1])
        if not (0 <= i < num and 0 <= j < num):
            raise IndexError(f'`part_flip_pairs` holds the pair ({i}, {j}) '
                             f'but `gt_parts` has only {num} rows.')
        perm[i], perm[j] = perm[j], perm[i]
    return parts[perm]


def warp_image(img: np.ndarray,
               mat: np.ndarray,
               out_shape: Tuple[int, int],
               interpolation: int = cv2.INTER_NEAREST,
               border_value: Union[float, Sequence[float]] = 0) -> np.ndarray:
    """Warp an image (or mask) with an affine matrix or a homography.

    ``mat`` maps continuous source coordinates to continuous output
    coordinates (the pipeline's convention); it is moved to OpenCV's
    pixel-centre coordinates here, so crops, paddings and flips are exact.

    Args:
        img (np.ndarray): ``(H, W)`` or ``(H, W, C)``.
        mat (np.ndarray): ``(3, 3)`` affine matrix or homography.
        out_shape (tuple[int, int]): ``(H', W')`` of the output.
        interpolation (int): OpenCV flag. Defaults to nearest.
        border_value (float | Sequence[float]): value of pixels that map
            outside the source. Defaults to 0.

    Returns:
        np.ndarray: ``(H', W'[, C])`` of the same dtype.
    """
    out_size = (int(out_shape[1]), int(out_shape[0]))
    centred = translate_matrix(-0.5, -0.5) @ np.asarray(
        mat, np.float64) @ translate_matrix(0.5, 0.5)
    img = np.ascontiguousarray(img)
    if is_affine(centred):
        return cv2.warpAffine(
            img, centred[:2], out_size, flags=interpolation,
            borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    return cv2.warpPerspective(
        img, centred, out_size, flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


def warp_mask(mask: np.ndarray, mat: np.ndarray,
              out_shape: Tuple[int, int]) -> np.ndarray:
    """Warp a mask with nearest-neighbour sampling.

    Output pixel centres are mapped back into the source through the inverse
    of ``mat`` and take the value of the nearest source pixel; pixels that
    map outside the source are 0. Crops, paddings and flips are exact.

    Args:
        mask (np.ndarray): ``(H, W)`` uint8 mask.
        mat (np.ndarray): ``(3, 3)`` affine matrix or homography (source ->
            output, in continuous pixel coordinates).
        out_shape (tuple[int, int]): ``(H', W')`` of the output.

    Returns:
        np.ndarray: ``(H', W')`` mask of the same dtype.
    """
    return warp_image(mask, mat, out_shape)


def check_mask_aligned(results: dict, transform_name: str) -> None:
    """Raise if ``gt_mask`` is not the size of ``img``.

    Args:
        results (dict): pipeline results.
        transform_name (str): name of the transform about to run, for the
            message.

    Raises:
        ValueError: the mask was left behind by a geometric transform that
            does not know ``gt_mask``.
    """
    mask = results.get('gt_mask')
    img = results.get('img')
    if mask is None or img is None:
        return
    if tuple(mask.shape[:2]) != tuple(img.shape[:2]):
        raise ValueError(
            f'{transform_name}: `gt_mask` is {tuple(mask.shape[:2])} but '
            f'`img` is {tuple(img.shape[:2])} (image '
            f'"{results.get("img_path", "?")}"). An earlier transform changed '
            'the image geometry without updating the mask: use the mmfg '
            "geometric transforms (default_scope='mmfg' or type='mmfg.X').")


def update_geometry(results: dict,
                    mat: np.ndarray,
                    out_shape: Tuple[int, int],
                    clip: bool = True) -> dict:
    """Record one geometric transform and map every geometric field with it.

    Updates, when present, ``gt_bboxes`` (+ ``gt_bboxes_valid``),
    ``gt_parts`` (+ left/right swap for mirroring transforms), ``gt_mask``,
    and always ``trans_mat`` (left-multiplied by ``mat``) and ``img_shape``.

    Args:
        results (dict): pipeline results; modified in place.
        mat (np.ndarray): ``(3, 3)`` affine matrix of the transform, mapping
            the input image's coordinates to the output image's.
        out_shape (tuple[int, int]): ``(H, W)`` of the output image.
        clip (bool): clip boxes to the output image. Validity is computed
            either way. Defaults to True.

    Returns:
        dict: ``results``.
    """
    mat = np.asarray(mat, dtype=np.float64)
    out_shape = (int(out_shape[0]), int(out_shape[1]))
    prev = results.get('trans_mat')
    prev = np.eye(3) if prev is None else np.asarray(prev, np.float64)
    results['trans_mat'] = mat @ prev
    results['img_shape'] = out_shape

    boxes = results.get('gt_bboxes')
    if boxes is not None:
        mapped = apply_affine_to_boxes(boxes, mat)
        clipped, valid = clip_boxes(mapped, out_shape)
        prev_valid = results.get('gt_bboxes_valid')
        if prev_valid is not None:
            valid &= np.asarray(prev_valid, dtype=bool).reshape(-1)
        results['gt_bboxes'] = (clipped if clip else mapped).astype(np.float32)
        results['gt_bboxes_valid'] = valid

    parts = results.get('gt_parts')
    if parts is not None:
        parts = transform_parts(parts, mat, out_shape)
        pairs = results.get('part_flip_pairs')
        if pairs and np.linalg.det(mat[:2, :2]) < 0:
            parts = swap_part_pairs(parts, pairs)
        results['gt_parts'] = parts

    mask = results.get('gt_mask')
    if mask is not None:
        results['gt_mask'] = warp_mask(mask, mat, out_shape)
    return results


def map_to_original(
    points_or_boxes: ArrayLike,
    trans_mat: ArrayLike,
    part_flip_pairs: Optional[Sequence[Sequence[int]]] = None
) -> Union[np.ndarray, torch.Tensor]:
    """Map coordinates of the transformed image back to the original image.

    The inverse of what the pipeline did (``trans_mat`` maps original ->
    current). The kind of input is read from its last dimension:

    - ``(..., 2)``: points ``x, y``;
    - ``(..., 3)``: parts ``x, y, visible``; invisible rows stay ``0, 0, 0``;
      with ``part_flip_pairs`` and a mirroring ``trans_mat`` the left/right
      rows are swapped back so row ``i`` is part ``i`` of the original;
    - ``(..., 4)``: boxes ``x1, y1, x2, y2``.

    Args:
        points_or_boxes (np.ndarray | torch.Tensor | Sequence): coordinates
            in the pixel space of the transformed image.
        trans_mat (np.ndarray | torch.Tensor | Sequence): ``(3, 3)``
            original -> current matrix (``results['trans_mat']``, or the
            ``trans_mat`` metainfo of a ``DataSample``).
        part_flip_pairs (Sequence[Sequence[int]], optional): left/right part
            pairs; only used for ``(..., 3)`` parts.

    Returns:
        np.ndarray | torch.Tensor: same shape as the input, in the original
        image's pixel coordinates; a tensor (same dtype and device) for a
        tensor input, else a float64 array.
    """
    is_tensor = isinstance(points_or_boxes, torch.Tensor)
    if is_tensor:
        ref = points_or_boxes
        arr = ref.detach().cpu().double().numpy()
    else:
        arr = np.asarray(points_or_boxes, dtype=np.float64)
    if isinstance(trans_mat, torch.Tensor):
        trans_mat = trans_mat.detach().cpu().double().numpy()
    inv = np.linalg.inv(np.asarray(trans_mat, dtype=np.float64))

    last = arr.shape[-1] if arr.ndim else 0
    lead = arr.shape[:-1]
    if last == 2:
        out = apply_affine(arr, inv)
    elif last == 4:
        out = apply_affine_to_boxes(arr.reshape(-1, 4), inv).reshape(arr.shape)
    elif last == 3:
        flat = arr.reshape(-1, 3)
        out = np.zeros_like(flat)
        vis = flat[:, 2] > 0
        out[vis, :2] = apply_affine(flat[vis, :2], inv)
        out[vis, 2] = flat[vis, 2]
        if part_flip_pairs and np.linalg.det(inv[:2, :2]) < 0:
            if arr.ndim != 2:
                raise ValueError('part_flip_pairs needs (P, 3) parts, got '
                                 f'shape {arr.shape}.')
            out = swap_part_pairs(out, part_flip_pairs)
        out = out.reshape(*lead, 3)
    else:
        raise ValueError('map_to_original expects points (..., 2), parts '
                         f'(..., 3) or boxes (..., 4), got shape {arr.shape}.')
    if is_tensor:
        return torch.as_tensor(out, dtype=ref.dtype, device=ref.device)
    return out

"""Geometric transforms that keep boxes, parts and masks aligned with images.

Each transform here is registered under the name of the mmcv / MMPretrain
transform it extends, accepts all of that transform's arguments and produces
the same image for the same arguments and random state; on top it maps
``gt_bboxes``, ``gt_parts`` and ``gt_mask`` and records ``trans_mat``,
through :func:`mmfg.datasets.transforms.geometry.update_geometry` (see that
module for the coordinate convention and the clipping rules).
"""
import math
from numbers import Number
from typing import Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import CenterCrop as _MMCVCenterCrop
from mmcv.transforms import RandomFlip as _MMCVRandomFlip
from mmcv.transforms import Resize as _MMCVResize
from mmpretrain.datasets.transforms import RandomCrop as _MMPTRandomCrop
from mmpretrain.datasets.transforms import \
    RandomResizedCrop as _MMPTRandomResizedCrop
from mmpretrain.datasets.transforms import ResizeEdge as _MMPTResizeEdge

from mmfg.registry import TRANSFORMS
from mmfg.utils.errors import AnnotationError
from .geometry import (check_mask_aligned, compose_flip_directions,
                       flip_matrix, scale_matrix, translate_matrix,
                       update_geometry, warp_image)

__all__ = [
    'Resize', 'ResizeEdge', 'RandomResizedCrop', 'CenterCrop', 'RandomCrop',
    'RandomFlip', 'BBoxCrop', 'RandomSkew'
]


def _padding_left_top(padding: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """Left and top padding of an ``mmcv.impad`` ``padding`` argument.

    Args:
        padding (int | Sequence[int]): ``p`` (all sides), ``(lr, tb)`` or
            ``(left, top, right, bottom)``.

    Returns:
        tuple[int, int]: ``(left, top)``.
    """
    if isinstance(padding, Number):
        return int(padding), int(padding)
    padding = tuple(padding)
    if len(padding) in (2, 4):
        return int(padding[0]), int(padding[1])
    raise ValueError('Padding must be an int or a 2- or 4-element tuple, got '
                     f'{padding!r}.')


@TRANSFORMS.register_module()
class Resize(_MMCVResize):
    """:class:`mmcv.transforms.Resize` that also maps mmfg's geometric fields.

    Same arguments and image as mmcv's ``Resize`` (and it still handles
    ``gt_seg_map`` / ``gt_keypoints`` as mmcv does). Resizing by
    ``(sx, sy) = results['scale_factor']`` maps ``(x, y) -> (x sx, y sy)``;
    ``gt_bboxes`` (clipped unless ``clip_object_border=False``),
    ``gt_parts``, ``gt_mask`` (nearest), ``trans_mat`` and ``img_shape``
    follow.

    Args:
        scale (int | tuple[int, int], optional): target ``(w, h)``.
            Defaults to None.
        scale_factor (float | tuple[float, float], optional): scale factors
            when ``scale`` is None. Defaults to None.
        keep_ratio (bool): keep the aspect ratio (``scale`` then bounds the
            long and short edges). Defaults to False.
        clip_object_border (bool): clip boxes to the image. Defaults to True.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to ``'cv2'``.
        interpolation (str): image interpolation. Defaults to
            ``'bilinear'``.
    """

    def transform(self, results: dict) -> dict:
        """Resize the image and every geometric field.

        Args:
            results (dict): pipeline results with ``img``.

        Returns:
            dict: the resized results.
        """
        check_mask_aligned(results, type(self).__name__)
        return super().transform(results)

    def _resize_bboxes(self, results: dict) -> None:
        """Map boxes, parts, mask and ``trans_mat`` by the scale factor.

        mmcv calls this right after resizing the image, with
        ``results['scale_factor']`` set; here it maps every geometric field,
        not only the boxes.
        """
        w_scale, h_scale = results['scale_factor']
        update_geometry(
            results,
            scale_matrix(w_scale, h_scale),
            results['img'].shape[:2],
            clip=self.clip_object_border)


@TRANSFORMS.register_module()
class ResizeEdge(_MMPTResizeEdge):
    """:class:`mmpretrain.datasets.transforms.ResizeEdge` that also maps
    mmfg's geometric fields.

    Same arguments and image as MMPretrain's ``ResizeEdge``; ``gt_bboxes``,
    ``gt_parts``, ``gt_mask``, ``trans_mat`` and ``img_shape`` follow the
    resize by ``results['scale_factor']``.

    Args:
        scale (int): length of the resized edge.
        edge (str): ``'short'``, ``'long'``, ``'width'`` or ``'height'``.
            Defaults to ``'short'``.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to ``'cv2'``.
        interpolation (str): image interpolation. Defaults to
            ``'bilinear'``.
    """

    def transform(self, results: dict) -> dict:
        """Resize the image along ``edge`` and every geometric field.

        Args:
            results (dict): pipeline results with ``img``.

        Returns:
            dict: the resized results.
        """
        check_mask_aligned(results, type(self).__name__)
        return super().transform(results)

    def _resize_img(self, results: dict) -> None:
        """Resize the image (MMPretrain), then map the geometric fields."""
        super()._resize_img(results)
        w_scale, h_scale = results['scale_factor']
        update_geometry(results, scale_matrix(w_scale, h_scale),
                        results['img'].shape[:2])


@TRANSFORMS.register_module()
class CenterCrop(_MMCVCenterCrop):
    """:class:`mmcv.transforms.CenterCrop` that also maps mmfg's geometric
    fields.

    Same arguments and image as mmcv's ``CenterCrop`` (``auto_pad`` pads at
    the bottom/right through ``pad_cfg``, which moves no coordinate; padded
    mask pixels are 0). A crop whose top-left pixel is ``(x1, y1)`` maps
    ``(x, y) -> (x - x1, y - y1)``.

    Args:
        crop_size (int | tuple[int, int]): ``(w, h)`` of the crop.
        auto_pad (bool): pad images smaller than ``crop_size``. Defaults to
            False.
        pad_cfg (dict): config of the padding transform. Defaults to
            ``dict(type='Pad')``.
        clip_object_border (bool): clip boxes to the crop. Defaults to True.
    """

    def transform(self, results: dict) -> dict:
        """Crop the centre of the image and every geometric field.

        Args:
            results (dict): pipeline results with ``img``.

        Returns:
            dict: the cropped results.
        """
        check_mask_aligned(results, type(self).__name__)
        return super().transform(results)

    def _crop_bboxes(self, results: dict, bboxes: np.ndarray) -> None:
        """Map boxes, parts, mask and ``trans_mat`` by the crop.

        mmcv calls this with the crop window ``bboxes = [x1, y1, x2, y2]``
        (inclusive pixels) after cropping the image; here it maps every
        geometric field, not only the boxes.
        """
        update_geometry(
            results,
            translate_matrix(-float(bboxes[0]), -float(bboxes[1])),
            results['img'].shape[:2],
            clip=self.clip_object_border)


@TRANSFORMS.register_module()
class RandomCrop(_MMPTRandomCrop):
    """:class:`mmpretrain.datasets.transforms.RandomCrop` that also maps
    mmfg's geometric fields.

    Same arguments, random draws and image as MMPretrain's ``RandomCrop``.
    Padding by ``left, top`` (from ``padding`` and ``pad_if_needed``) and a
    crop at ``(x0, y0)`` map ``(x, y) -> (x + left - x0, y + top - y0)``.
    Padded mask pixels are 0; parts and boxes are mapped where they are,
    whatever the padding mode shows in the padded border.

    Args:
        crop_size (int | Sequence[int]): ``(h, w)`` of the crop.
        padding (int | Sequence[int], optional): padding on each border
            (``p``, ``(lr, tb)`` or ``(l, t, r, b)``). Defaults to None.
        pad_if_needed (bool): pad images smaller than ``crop_size``.
            Defaults to False.
        pad_val (Number | Sequence[Number]): constant padding value.
            Defaults to 0.
        padding_mode (str): padding mode of ``pad_if_needed``. Defaults to
            ``'constant'``.
    """

    def transform(self, results: dict) -> dict:
        """Pad (optionally) and randomly crop the image and every geometric
        field.

        Args:
            results (dict): pipeline results with ``img``.

        Returns:
            dict: the cropped results.
        """
        check_mask_aligned(results, type(self).__name__)
        img = results['img']
        left = top = 0
        if self.padding is not None:
            img = mmcv.impad(img, padding=self.padding, pad_val=self.pad_val)
            left, top = _padding_left_top(self.padding)
        if self.pad_if_needed:
            h_pad = math.ceil(max(0, self.crop_size[0] - img.shape[0]) / 2)
            w_pad = math.ceil(max(0, self.crop_size[1] - img.shape[1]) / 2)
            img = mmcv.impad(
                img,
                padding=(w_pad, h_pad, w_pad, h_pad),
                pad_val=self.pad_val,
                padding_mode=self.padding_mode)
            left, top = left + w_pad, top + h_pad

        offset_h, offset_w, target_h, target_w = self.rand_crop_params(img)
        img = mmcv.imcrop(
            img,
            np.array([
                offset_w, offset_h, offset_w + target_w - 1,
                offset_h + target_h - 1
            ]))
        results['img'] = img
        update_geometry(results,
                        translate_matrix(left - offset_w, top - offset_h),
                        img.shape[:2])
        return results


@TRANSFORMS.register_module()
class RandomResizedCrop(_MMPTRandomResizedCrop):
    """:class:`mmpretrain.datasets.transforms.RandomResizedCrop` that also
    maps mmfg's geometric fields.

    Same arguments, random draws and image as MMPretrain's
    ``RandomResizedCrop``. A crop of ``(tw, th)`` pixels at ``(x0, y0)``
    resized to ``(W, H)`` maps ``(x, y) -> ((x - x0) W / tw, (y - y0) H /
    th)``.

    Args:
        scale (int | Sequence[int]): ``(h, w)`` of the output.
        crop_ratio_range (tuple[float, float]): range of the crop area
            relative to the image. Defaults to ``(0.08, 1.0)``.
        aspect_ratio_range (tuple[float, float]): range of the crop aspect
            ratio. Defaults to ``(3/4, 4/3)``.
        max_attempts (int): attempts before the central-crop fallback.
            Defaults to 10.
        interpolation (str): image interpolation. Defaults to
            ``'bilinear'``.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to ``'cv2'``.
    """

    def transform(self, results: dict) -> dict:
        """Randomly crop and resize the image and every geometric field.

        Args:
            results (dict): pipeline results with ``img``.

        Returns:
            dict: the transformed results.
        """
        check_mask_aligned(results, type(self).__name__)
        img = results['img']
        offset_h, offset_w, target_h, target_w = self.rand_crop_params(img)
        img = mmcv.imcrop(
            img,
            bboxes=np.array([
                offset_w, offset_h, offset_w + target_w - 1,
                offset_h + target_h - 1
            ]))
        img = mmcv.imresize(
            img,
            tuple(self.scale[::-1]),
            interpolation=self.interpolation,
            backend=self.backend)
        results['img'] = img
        out_h, out_w = img.shape[:2]
        mat = scale_matrix(out_w / target_w, out_h / target_h) @ \
            translate_matrix(-offset_w, -offset_h)
        update_geometry(results, mat, img.shape[:2])
        return results


@TRANSFORMS.register_module()
class RandomFlip(_MMCVRandomFlip):
    """:class:`mmcv.transforms.RandomFlip` that also maps mmfg's geometric
    fields.

    Same arguments, random draws and image as mmcv's ``RandomFlip`` (it still
    handles ``gt_seg_map`` / ``gt_keypoints`` as mmcv does). A flip maps
    ``x -> W - x`` (horizontal), ``y -> H - y`` (vertical) or both
    (diagonal). Horizontal and vertical flips mirror the object, so the rows
    of ``results['part_flip_pairs']`` (left/right parts) are swapped; a
    diagonal flip is a 180-degree rotation and swaps nothing.

    ``flip`` / ``flip_direction`` hold the net flip of the pipeline so far
    (two horizontal flips give ``flip=False``); with one flip in the pipeline
    this is exactly mmcv's record.

    Args:
        prob (float | list[float], optional): flip probability (per
            direction for a list).
        direction (str | list[str]): ``'horizontal'``, ``'vertical'``,
            ``'diagonal'`` or a list of them. Defaults to ``'horizontal'``.
        swap_seg_labels (list, optional): label pairs of ``gt_seg_map`` to
            swap, as in mmcv. Defaults to None.
    """

    def transform(self, results: dict) -> dict:
        """Randomly flip the image and every geometric field.

        Args:
            results (dict): pipeline results with ``img``.

        Returns:
            dict: the (possibly) flipped results.
        """
        check_mask_aligned(results, type(self).__name__)
        return super().transform(results)

    def _flip_on_direction(self, results: dict) -> None:
        """Choose and apply a direction (mmcv), then record the net flip."""
        previous = results.get('flip_direction') if results.get(
            'flip', False) else None
        super()._flip_on_direction(results)
        net = compose_flip_directions(previous, results['flip_direction'])
        results['flip'] = net is not None
        results['flip_direction'] = net

    def _flip(self, results: dict) -> None:
        """Flip as mmcv does, with the boxes mapped by mmfg's rules."""
        img_shape = results['img'].shape[:2]
        # mmcv would flip the boxes too; hide them so they are mapped once
        has_boxes = 'gt_bboxes' in results
        boxes = results.pop('gt_bboxes', None)
        try:
            super()._flip(results)
        finally:
            if has_boxes:
                results['gt_bboxes'] = boxes
        update_geometry(results,
                        flip_matrix(results['flip_direction'], img_shape),
                        img_shape)


@TRANSFORMS.register_module()
class BBoxCrop(BaseTransform):
    """Crop the image to its object box ("cropped CUB"), on the fly.

    The crop is the first valid box of ``gt_bboxes`` (``mode='first'``) or
    the union of all valid boxes (``mode='union'``), grown on each side by
    ``margin`` times the box width/height, rounded outwards to whole pixels
    and clipped to the image. Everything geometric is mapped (``(x, y) ->
    (x - x0, y - y0)``), so parts outside the box become invisible and the
    boxes are re-clipped.

    **Required Keys:** ``img``, ``gt_bboxes`` (unless ``allow_missing``).

    **Modified Keys:** ``img``, ``img_shape``, ``trans_mat``, ``gt_bboxes``,
    ``gt_bboxes_valid``, ``gt_parts``, ``gt_mask``.

    Args:
        margin (float | tuple[float, float]): relative margin added on each
            side, ``m`` or ``(m_x, m_y)``; 0.1 grows a 100-pixel-wide box by
            10 pixels left and right. Defaults to 0.
        mode (str): ``'first'`` or ``'union'``. Defaults to ``'first'``.
        allow_missing (bool): leave the image uncropped when there is no
            valid box, instead of raising. Defaults to False.
    """

    def __init__(self,
                 margin: Union[float, Tuple[float, float]] = 0.,
                 mode: str = 'first',
                 allow_missing: bool = False) -> None:
        if isinstance(margin, Number):
            margin = (float(margin), float(margin))
        margin = tuple(float(m) for m in margin)
        if len(margin) != 2 or min(margin) < 0:
            raise ValueError('margin must be a non-negative float or a pair '
                             f'of them, got {margin!r}.')
        if mode not in ('first', 'union'):
            raise ValueError(f"mode must be 'first' or 'union', got {mode!r}.")
        self.margin = margin
        self.mode = mode
        self.allow_missing = allow_missing

    def _crop_window(self,
                     results: dict) -> Optional[Tuple[int, int, int, int]]:
        """Pixel window ``(x0, y0, x1, y1)`` (end exclusive) or None."""
        boxes = results.get('gt_bboxes')
        if boxes is None or len(boxes) == 0:
            return None
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        valid = results.get('gt_bboxes_valid')
        nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if valid is not None:
            nonempty = nonempty & np.asarray(valid, bool).reshape(-1)
        valid = nonempty
        if not valid.any():
            return None
        boxes = boxes[valid]
        if self.mode == 'first':
            box = boxes[0]
        else:
            box = np.concatenate([boxes[:, :2].min(0), boxes[:, 2:].max(0)])
        mx = self.margin[0] * (box[2] - box[0])
        my = self.margin[1] * (box[3] - box[1])
        h, w = results['img'].shape[:2]
        x0 = int(np.clip(math.floor(box[0] - mx), 0, w))
        y0 = int(np.clip(math.floor(box[1] - my), 0, h))
        x1 = int(np.clip(math.ceil(box[2] + mx), 0, w))
        y1 = int(np.clip(math.ceil(box[3] + my), 0, h))
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def transform(self, results: dict) -> dict:
        """Crop the image and every geometric field to the box.

        Args:
            results (dict): pipeline results with ``img`` and ``gt_bboxes``.

        Returns:
            dict: the cropped results.

        Raises:
            AnnotationError: no valid box inside the image and
                ``allow_missing`` is False.
        """
        check_mask_aligned(results, type(self).__name__)
        window = self._crop_window(results)
        if window is None:
            if self.allow_missing:
                return results
            raise AnnotationError(
                results.get('img_path', '<no img_path>'), None,
                'BBoxCrop found no valid `gt_bboxes` inside the image to crop '
                'to. Use a dataset with boxes, or set allow_missing=True to '
                'keep such images uncropped.')
        x0, y0, x1, y1 = window
        results['img'] = np.ascontiguousarray(results['img'][y0:y1, x0:x1])
        update_geometry(results, translate_matrix(-x0, -y0),
                        results['img'].shape[:2])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(margin={self.margin}, '
                f"mode='{self.mode}', allow_missing={self.allow_missing})")


_CV2_INTERP = dict(
    nearest=cv2.INTER_NEAREST,
    bilinear=cv2.INTER_LINEAR,
    bicubic=cv2.INTER_CUBIC)


@TRANSFORMS.register_module()
class RandomSkew(BaseTransform):
    """Perspective skew of Augmentor (``Pipeline.skew``), used by ProtoPNet's
    offline augmentation, with mmfg's geometric fields mapped.

    With probability ``prob`` one skew is drawn: an amount
    ``a = randint(1, ceil(magnitude * max(H, W)))`` and, for
    ``skew_type='random'``, ``'tilt'`` or ``'corner'`` with equal chance.
    A tilt moves the two corners of one edge (left, right, top or bottom)
    apart by ``a`` each along that edge, as if the image leaned away from
    the viewer; a corner skew moves one of the four corners by ``a``
    outwards, horizontally or vertically. The homography that takes the
    image corners to the moved ones warps the image (output size
    unchanged, ``pad_val`` outside), the mask (nearest), the boxes (the
    box around the mapped corners), the parts and ``trans_mat``.

    Args:
        prob (float): probability of skewing. Defaults to 0.5.
        magnitude (float): largest corner displacement as a fraction of
            ``max(H, W)`` (Augmentor's ``magnitude``). Defaults to 0.2.
        skew_type (str): ``'random'``, ``'tilt'`` or ``'corner'``.
            Defaults to ``'random'``.
        interpolation (str): ``'nearest'``, ``'bilinear'`` or
            ``'bicubic'`` (Augmentor). Defaults to ``'bicubic'``.
        pad_val (Number | Sequence[Number]): value of the uncovered pixels.
            Defaults to 0.
    """

    def __init__(self,
                 prob: float = 0.5,
                 magnitude: float = 0.2,
                 skew_type: str = 'random',
                 interpolation: str = 'bicubic',
                 pad_val: Union[Number, Sequence[Number]] = 0) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomSkew: prob must be in [0, 1], got '
                             f'{prob}.')
        if not 0 < magnitude <= 1:
            raise ValueError('RandomSkew: magnitude must be in (0, 1], got '
                             f'{magnitude}.')
        if skew_type not in ('random', 'tilt', 'corner'):
            raise ValueError('RandomSkew: skew_type must be random, tilt or '
                             f'corner, got {skew_type!r}.')
        if interpolation not in _CV2_INTERP:
            raise ValueError(f'RandomSkew: interpolation must be one of '
                             f'{sorted(_CV2_INTERP)}, got {interpolation!r}.')
        self.prob = prob
        self.magnitude = magnitude
        self.skew_type = skew_type
        self.interpolation = interpolation
        self.pad_val = pad_val

    def skew_corners(self, h: int, w: int) -> np.ndarray:
        """Draw the moved corners ``(4, 2)`` (TL, TR, BR, BL) of a ``(h, w)``
        image whose corners are ``(0, 0), (w, 0), (w, h), (0, h)``."""
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
        a = float(np.random.randint(
            1, max(2, math.ceil(self.magnitude * max(h, w)) + 1)))
        kind = self.skew_type
        if kind == 'random':
            kind = ('tilt', 'corner')[np.random.randint(2)]
        moved = corners.copy()
        if kind == 'tilt':
            # (corner, axis, sign) pairs of the edge that leans away
            edge = [
                ((0, 1, -1), (3, 1, 1)),  # left edge taller
                ((1, 1, -1), (2, 1, 1)),  # right edge taller
                ((0, 0, -1), (1, 0, 1)),  # top edge wider
                ((3, 0, -1), (2, 0, 1)),  # bottom edge wider
            ][np.random.randint(4)]
            for corner, axis, sign in edge:
                moved[corner, axis] += sign * a
        else:
            corner, axis = np.random.randint(4), np.random.randint(2)
            outward = np.sign(corners[corner] - [w / 2, h / 2])
            moved[corner, axis] += outward[axis] * a
        return moved

    def transform(self, results: dict) -> dict:
        """Skew the image and every geometric field (with ``prob``).

        Args:
            results (dict): pipeline results with ``img``.

        Returns:
            dict: the (possibly) skewed results.
        """
        if np.random.rand() >= self.prob:
            return results
        check_mask_aligned(results, type(self).__name__)
        img = results['img']
        h, w = img.shape[:2]
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        dst = self.skew_corners(h, w).astype(np.float32)
        mat = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
        pad = self.pad_val
        if isinstance(pad, Number):
            pad = (pad, ) * (img.shape[2] if img.ndim == 3 else 1)
        results['img'] = warp_image(
            img, mat, (h, w),
            interpolation=_CV2_INTERP[self.interpolation],
            border_value=tuple(float(v) for v in pad))
        update_geometry(results, mat, (h, w))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, magnitude='
                f'{self.magnitude}, skew_type={self.skew_type!r}, '
                f'interpolation={self.interpolation!r}, pad_val='
                f'{self.pad_val})')

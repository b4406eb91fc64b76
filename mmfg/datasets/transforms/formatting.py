"""Packing of images and fine-grained annotations into ``DataSample``s."""
from collections.abc import Mapping
from numbers import Number
from typing import Any, Dict, Sequence

import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs

from mmfg.registry import TRANSFORMS
from .geometry import clip_boxes

__all__ = ['PackFGInputs']


def _to_tensor(value: Any, dtype: torch.dtype, key: str) -> Any:
    """Convert an array-like (or a mapping of them) to a tensor of dtype."""
    if isinstance(value, Mapping):
        return {
            k: _to_tensor(v, dtype, f'{key}.{k}')
            for k, v in value.items()
        }
    if isinstance(value, torch.Tensor):
        return value.to(dtype)
    array_like = (np.ndarray, Number, Sequence)
    if isinstance(value, array_like) and not isinstance(value, str):
        return torch.as_tensor(np.asarray(value)).to(dtype)
    raise TypeError(f'PackFGInputs: cannot convert `{key}` of type '
                    f'{type(value).__name__} to a tensor; expected an array, '
                    'a number, a sequence or a dict of them.')


@TRANSFORMS.register_module()
class PackFGInputs(PackInputs):
    """Pack the image and the fine-grained annotations into a ``DataSample``.

    A superset of :class:`mmpretrain.datasets.transforms.PackInputs` (same
    ``inputs`` CHW tensor, ``gt_label``/``gt_score``/``mask``,
    ``algorithm_keys`` and ``meta_keys``). In addition every key of
    ``data_keys`` present in the results becomes a tensor data field:

    - ``gt_bboxes``: float32 ``(N, 4)`` ``x1, y1, x2, y2``;
    - ``gt_bboxes_valid``: bool ``(N,)`` (computed from the boxes and the
      image when no transform recorded it);
    - ``gt_parts``: float32 ``(P, 3)`` ``x, y, visible``;
    - ``gt_mask``: uint8 ``(H, W)``, checked to be the size of ``inputs``;
    - ``attributes``: float32 ``(A,)``;
    - ``meta``: float32 (a dict of arrays becomes a dict of tensors).

    All coordinates are in the pixel space of ``inputs``; the ``trans_mat``
    metainfo maps original-image coordinates to it
    (:func:`mmfg.datasets.transforms.map_to_original` inverts it).

    Args:
        input_key (str): key of the model input. Defaults to ``'img'``.
        algorithm_keys (Sequence[str]): extra keys set as data fields
            unchanged (as in ``PackInputs``). Defaults to ``()``.
        meta_keys (Sequence[str]): keys set as metainfo. Defaults to
            :attr:`DEFAULT_META_KEYS`.
        data_keys (Sequence[str]): fine-grained keys converted to tensors as
            described above. Defaults to :attr:`DEFAULT_DATA_KEYS`.
    """

    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'img_id', 'ori_shape',
                         'img_shape', 'trans_mat', 'scale_factor', 'flip',
                         'flip_direction')
    DEFAULT_DATA_KEYS = ('gt_bboxes', 'gt_bboxes_valid', 'gt_parts', 'gt_mask',
                         'attributes', 'meta')
    _DTYPES: Dict[str, torch.dtype] = {
        'gt_bboxes_valid': torch.bool,
        'gt_mask': torch.uint8,
    }

    def __init__(self,
                 input_key: str = 'img',
                 algorithm_keys: Sequence[str] = (),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS,
                 data_keys: Sequence[str] = DEFAULT_DATA_KEYS) -> None:
        super().__init__(
            input_key=input_key,
            algorithm_keys=algorithm_keys,
            meta_keys=meta_keys)
        self.data_keys = tuple(data_keys)

    def transform(self, results: dict) -> dict:
        """Pack ``results`` into ``inputs`` and ``data_samples``.

        Args:
            results (dict): pipeline results.

        Returns:
            dict: ``{'inputs': Tensor (C, H, W), 'data_samples':
            DataSample}``.

        Raises:
            ValueError: ``gt_mask`` is not the size of ``inputs``.
        """
        results = dict(results)
        if ('gt_bboxes' in self.data_keys
                and 'gt_bboxes_valid' in self.data_keys
                and results.get('gt_bboxes') is not None
                and results.get('gt_bboxes_valid') is None
                and results.get(self.input_key) is not None):
            img = results[self.input_key]
            if isinstance(img, np.ndarray):
                results['gt_bboxes_valid'] = clip_boxes(
                    results['gt_bboxes'], img.shape[:2])[1]

        packed = super().transform(results)
        data_sample = packed['data_samples']
        for key in self.data_keys:
            value = results.get(key)
            if value is None:
                continue
            tensor = _to_tensor(value, self._DTYPES.get(key, torch.float32),
                                key)
            if key == 'gt_mask':
                self._check_mask(tensor, packed.get('inputs'), results)
            data_sample.set_field(tensor, key)
        return packed

    @staticmethod
    def _check_mask(mask: torch.Tensor, inputs: Any, results: dict) -> None:
        if isinstance(inputs, torch.Tensor) and inputs.ndim == 3 and tuple(
                mask.shape) != tuple(inputs.shape[-2:]):
            raise ValueError(
                f'PackFGInputs: `gt_mask` is {tuple(mask.shape)} but the '
                f'image is {tuple(inputs.shape[-2:])} for '
                f'"{results.get("img_path", "?")}". A geometric transform '
                "outside mmfg changed the image only; use default_scope="
                "'mmfg' (or type='mmfg.<Transform>') in the pipeline.")

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', data_keys={self.data_keys})'

"""Reading the ForgetMe four-folder layout: dataset and transforms."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmpretrain.structures import DataSample
from PIL import Image

from mmfg.registry import DATASETS, TRANSFORMS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError
from .creation import FOLDERS, IMG_EXTS, read_rgb

__all__ = ['ForgetMeDataset', 'LoadForgetMeImages', 'PackForgetMeInputs']

_HOW = ('Create it with projects/forgetme/tools/create_dataset.py (folders '
        'original/, foreground/, background/, mask/ with the same file '
        'names).')


def _index(folder: str) -> Dict[str, str]:
    if not osp.isdir(folder):
        raise DatasetNotFoundError(folder, 'ForgetMe', _HOW)
    return {
        osp.splitext(f)[0]: osp.join(folder, f)
        for f in sorted(os.listdir(folder)) if f.lower().endswith(IMG_EXTS)
    }


@DATASETS.register_module()
class ForgetMeDataset(BaseDataset):
    """Images with the object to forget, its mask and the background.

    Layout (written by ``projects/forgetme/tools/create_dataset.py``)::

        data_root/original/<name>.png     the image
        data_root/foreground/<name>.png   the object on black
        data_root/background/<name>.png   the image with the object removed
        data_root/mask/<name>.png         grey alpha, >= 128: forget region

    Every sample has ``img_path`` (the folder chosen by ``img_folder``),
    ``orig_path``, ``bg_path``, ``fg_path``, ``mask_path`` and ``name``.
    The four folders must hold the same names (an unmatched name is an
    error naming the folders and a few names) and, with ``check_sizes``,
    images of one size per name (read from the file headers only).

    Args:
        data_root (str): the dataset folder.
        img_folder (str): folder that gives ``img_path`` (the model input):
            ``'background'`` to train the unlearning LoRA, ``'original'``
            to edit/evaluate. Defaults to ``'background'``.
        check_sizes (bool): check the sizes agree. Defaults to True.
        pipeline (Sequence): transforms. Defaults to ``()``.
        **kwargs: other :class:`~mmengine.dataset.BaseDataset` arguments
            (``indices``, ``test_mode``, ``lazy_init``...).
    """

    METAINFO = dict(classes=None)

    def __init__(self,
                 data_root: str,
                 img_folder: str = 'background',
                 check_sizes: bool = True,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        if img_folder not in FOLDERS:
            raise ValueError(f'ForgetMeDataset: img_folder must be one of '
                             f'{FOLDERS}, got {img_folder!r}.')
        self.img_folder = img_folder
        self.check_sizes = check_sizes
        super().__init__(data_root=data_root, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Match the four folders by file name."""
        if not osp.isdir(self.data_root):
            raise DatasetNotFoundError(self.data_root, 'ForgetMe', _HOW)
        index = {f: _index(osp.join(self.data_root, f)) for f in FOLDERS}
        names = set(index['original'])
        for f in FOLDERS[1:]:
            if set(index[f]) != names:
                missing = sorted(names - set(index[f]))[:5]
                extra = sorted(set(index[f]) - names)[:5]
                raise AnnotationError(
                    osp.join(self.data_root, f), None,
                    f'file names do not match original/: missing here '
                    f'{missing}, not in original/ {extra} (first 5). Every '
                    'folder must hold one file per image name; recreate the '
                    'dataset or remove the strays.')
        if not names:
            raise DatasetNotFoundError(
                osp.join(self.data_root, 'original'), 'ForgetMe',
                'The folder holds no images. ' + _HOW)
        data_list = []
        for name in sorted(names):
            paths = {f: index[f][name] for f in FOLDERS}
            if self.check_sizes:
                sizes = {f: Image.open(p).size for f, p in paths.items()}
                if len(set(sizes.values())) != 1:
                    raise AnnotationError(
                        paths['original'], None,
                        f'the four files of "{name}" differ in size '
                        f'{sizes} (w, h); recreate them.')
            data_list.append(
                dict(
                    name=name,
                    img_path=paths[self.img_folder],
                    orig_path=paths['original'],
                    bg_path=paths['background'],
                    fg_path=paths['foreground'],
                    mask_path=paths['mask']))
        return data_list


@TRANSFORMS.register_module()
class LoadForgetMeImages(BaseTransform):
    """Load the input, the original and the mask of a ForgetMe sample.

    **Required keys:** ``img_path``, ``orig_path``, ``mask_path``.

    **Added keys:** ``img`` (RGB uint8 ``(H, W, 3)``), ``gt_orig`` (RGB
    uint8 ``(H, W, 3)``), ``gt_mask`` (uint8 ``(H, W)`` 0/1, forget region),
    ``img_shape``, ``ori_shape``.

    Args:
        scale (int, optional): resize everything to ``scale x scale``
            (area for images, nearest for the mask). Defaults to None.
        mask_thresh (int): grey level (0..255) from which a mask pixel is
            the forget region. Defaults to 128.
    """

    def __init__(self, scale: Optional[int] = None,
                 mask_thresh: int = 128) -> None:
        self.scale = scale
        self.mask_thresh = mask_thresh

    def transform(self, results: dict) -> dict:
        img = read_rgb(results['img_path'])
        orig = read_rgb(results['orig_path'])
        mask = cv2.imread(results['mask_path'], cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise DatasetNotFoundError(results['mask_path'], 'ForgetMe',
                                       'The mask cannot be read. ' + _HOW)
        if not (img.shape == orig.shape and mask.shape == img.shape[:2]):
            raise AnnotationError(
                results['img_path'], None,
                f'input {img.shape[:2]}, original {orig.shape[:2]} and mask '
                f'{mask.shape} differ in size; recreate the sample.')
        results['ori_shape'] = img.shape[:2]
        if self.scale is not None:
            size = (self.scale, self.scale)
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            orig = cv2.resize(orig, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        results['img'] = img
        results['gt_orig'] = orig
        results['gt_mask'] = (mask >= self.mask_thresh).astype(np.uint8)
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'mask_thresh={self.mask_thresh})')


@TRANSFORMS.register_module()
class PackForgetMeInputs(BaseTransform):
    """Pack ``img`` as ``inputs`` (RGB uint8 ``(3, H, W)``) and the original
    (``gt_orig``, uint8 ``(3, H, W)``) and mask (``gt_mask``, uint8
    ``(H, W)``) into a ``DataSample`` with ``name``, ``img_path``,
    ``img_shape`` and ``ori_shape`` as metainfo."""

    META = ('name', 'img_path', 'img_shape', 'ori_shape', 'sample_idx')

    def transform(self, results: dict) -> dict:
        inputs = torch.from_numpy(
            np.ascontiguousarray(results['img'].transpose(2, 0, 1)))
        ds = DataSample()
        ds.set_field(
            torch.from_numpy(
                np.ascontiguousarray(results['gt_orig'].transpose(2, 0, 1))),
            'gt_orig')
        ds.set_field(torch.from_numpy(results['gt_mask']), 'gt_mask')
        ds.set_metainfo({k: results[k] for k in self.META if k in results})
        return dict(inputs=inputs, data_samples=ds)

"""WSSS pseudo masks: export in MMSegmentation's dataset layout and score
them with MMSegmentation's ``IoUMetric``.

Layout written by :func:`export_pseudo_masks` (next to, not inside, the VOC
folder)::

    out_dir/
      SegmentationClassPseudo/<id>.png      palette PNG, 0 bg, 1..20, as VOC
      ImageSets/Segmentation/<split>.txt    the ids written

An MMSegmentation config trains on them with its own ``PascalVOCDataset``::

    train_dataloader = dict(dataset=dict(
        type='PascalVOCDataset',
        data_root='data/VOCdevkit/VOC2012',
        data_prefix=dict(img_path='JPEGImages',
                         seg_map_path='/abs/out_dir/SegmentationClassPseudo'),
        ann_file='/abs/out_dir/ImageSets/Segmentation/train.txt'))
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import mmcv
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmfg.datasets.voc import VOC_CLASSES, read_label_png
from mmfg.explain.wsss import pseudo_label_map

__all__ = [
    'class_maps_of_image', 'export_pseudo_masks', 'evaluate_pseudo_masks',
    'voc_palette'
]


def voc_palette() -> np.ndarray:
    """The PASCAL VOC colour map, ``(256, 3)`` uint8 (bit-interleaved)."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


@torch.no_grad()
def class_maps_of_image(model: torch.nn.Module,
                        img: np.ndarray,
                        scales: Sequence[float] = (1.0, ),
                        flip: bool = True) -> Tensor:
    """Class maps of one image, summed over scales (and flips).

    Args:
        model (nn.Module): a localizer with ``data_preprocessor`` and
            ``localization_maps`` (e.g. :class:`~mmfg.models.BAS`).
        img (np.ndarray): ``(H, W, 3)`` BGR uint8 image.
        scales (Sequence[float]): input scales.
        flip (bool): add the horizontally flipped input.

    Returns:
        Tensor: ``(C, h, w)`` summed maps at the resolution of scale 1.
    """
    total = None
    h, w = img.shape[:2]
    for s in scales:
        im = img if s == 1 else mmcv.imrescale(img, s)
        x = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)
        batch = [x, x.flip(-1)] if flip else [x]
        data = model.data_preprocessor(dict(inputs=batch), False)
        _, maps, _ = model.localization_maps(data['inputs'])
        if flip:
            maps = maps[:1] + maps[1:].flip(-1)
        if total is None:
            total = maps[0]
        else:
            total = total + torch.nn.functional.interpolate(
                maps, size=total.shape[-2:], mode='bilinear',
                align_corners=False)[0]
    return total


def export_pseudo_masks(model: torch.nn.Module,
                        dataset: Dataset,
                        out_dir: str,
                        bg_threshold: float = 0.25,
                        scales: Sequence[float] = (1.0, ),
                        flip: bool = True,
                        mask_dir: str = 'SegmentationClassPseudo',
                        split_name: Optional[str] = None) -> str:
    """Write one pseudo mask per image of ``dataset``.

    Args:
        model (nn.Module): localizer in eval mode (see
            :func:`class_maps_of_image`).
        dataset: :class:`~mmfg.datasets.PascalVOC2012` (image-level labels
            select the classes each mask may contain).
        out_dir (str): output root (layout in the module docstring).
        bg_threshold (float): see :func:`~mmfg.explain.wsss.
            pseudo_label_map`.
        scales (Sequence[float]): test scales.
        flip (bool): flip augmentation.
        mask_dir (str): mask folder under ``out_dir``.
        split_name (str, optional): id-list name; defaults to the
            dataset's split.

    Returns:
        str: the mask folder.
    """
    from PIL import Image
    out_masks = osp.join(out_dir, mask_dir)
    os.makedirs(out_masks, exist_ok=True)
    list_dir = osp.join(out_dir, 'ImageSets', 'Segmentation')
    os.makedirs(list_dir, exist_ok=True)
    palette = voc_palette().flatten().tolist()
    device = next(model.parameters()).device
    ids = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        img = mmcv.imread(info['img_path'])
        if img is None:
            raise FileNotFoundError(f'cannot read image {info["img_path"]}')
        maps = class_maps_of_image(model, img, scales, flip)
        labels = torch.as_tensor(info['gt_label'], device=device).long()
        seg = pseudo_label_map(maps, labels, img.shape[:2], bg_threshold)
        png = Image.fromarray(seg.to(torch.uint8).cpu().numpy(), mode='P')
        png.putpalette(palette)
        png.save(osp.join(out_masks, f'{info["img_id"]}.png'))
        ids.append(info['img_id'])
    name = split_name or getattr(dataset, 'split', 'pseudo')
    with open(osp.join(list_dir, f'{name}.txt'), 'w') as f:
        f.write('\n'.join(ids) + '\n')
    return out_masks


def evaluate_pseudo_masks(pred_dir: str,
                          dataset: Dataset) -> Dict[str, float]:
    """mIoU of pseudo masks with MMSegmentation's ``IoUMetric``.

    Args:
        pred_dir (str): folder of ``<id>.png`` label masks.
        dataset: :class:`~mmfg.datasets.PascalVOC2012` whose images have
            ``seg_map_path`` (ground truth; 255 is ignored).

    Returns:
        dict: ``mIoU``, ``aAcc``, ``mAcc`` (percent) from ``IoUMetric``.

    Raises:
        ImportError: MMSegmentation is not installed (``pip install
            mmfg[seg]``).
        FileNotFoundError: a prediction or ground-truth mask is missing.
    """
    try:
        from mmseg.evaluation import IoUMetric
    except ImportError as e:
        raise ImportError(
            'evaluate_pseudo_masks needs MMSegmentation (`pip install -r '
            f'requirements/seg.txt`): {e}') from e
    metric = IoUMetric(iou_metrics=['mIoU'], ignore_index=255)
    metric.dataset_meta = dict(classes=('background', ) + VOC_CLASSES)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if 'seg_map_path' not in info:
            raise FileNotFoundError(
                f'image {info["img_id"]} has no ground-truth mask; build the '
                'dataset with require_mask=True on a split with masks.')
        pred_path = osp.join(pred_dir, f'{info["img_id"]}.png')
        if not osp.exists(pred_path):
            raise FileNotFoundError(
                f'no pseudo mask {pred_path}; run export_pseudo_masks first.')
        pred = torch.from_numpy(read_label_png(pred_path).astype(np.int64))
        gt = torch.from_numpy(
            read_label_png(info['seg_map_path']).astype(np.int64))
        metric.process({}, [
            dict(
                pred_sem_seg=dict(data=pred[None]),
                gt_sem_seg=dict(data=gt[None]))
        ])
    return metric.compute_metrics(metric.results)

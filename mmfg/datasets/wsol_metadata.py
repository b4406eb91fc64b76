"""WSOL datasets described by wsolevaluation's metadata files (Choe et al.,
CVPR 2020, clovaai/wsolevaluation): ILSVRC (train / ImageNetV2 val / ILSVRC
val as test), CUB (with CUBV2 as val) or any dataset written the same way.
"""
import os.path as osp
from collections import OrderedDict
from typing import List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, ConfigError
from .utils import check_dataset_kwargs, read_nonempty_lines, require_path

__all__ = ['WSOLMetadataDataset']

_HOW_TO_GET = ('Get the metadata from https://github.com/clovaai/'
               'wsolevaluation (metadata/<DATASET>/<split>/) and the images '
               'with its dataset/prepare_*.sh scripts.')


@DATASETS.register_module()
class WSOLMetadataDataset(BaseDataset):
    """Images, labels and boxes from wsolevaluation's metadata layout.

    Layout::

        metadata_root/<split>/class_labels.txt   "<path>,<label>" per image
        metadata_root/<split>/localization.txt   "<path>,x0,y0,x1,y1" per
                                                 box (several lines for
                                                 several boxes; optional
                                                 for train)
        data_root/<path>                         the images

    Keys of ``get_data_info``: ``img_path``, ``gt_label`` (int) and, where
    ``localization.txt`` lists the image, ``gt_bboxes`` float32 ``(N, 4)``
    ``x1, y1, x2, y2`` in original pixels (docs/data_fields.md). With
    ``with_bbox``, every ``val`` / ``test`` image must have a box (an
    image without one is an error, not an image silently left out of the
    localization scores); ``train`` images may lack boxes.

    Bad input raises :class:`~mmfg.utils.errors.AnnotationError` naming the
    file and line (a malformed or duplicate line, an empty
    ``class_labels.txt``) or :class:`~mmfg.utils.errors.ConfigError` (an
    unknown argument).

    Args:
        data_root (str): image root (paths in the metadata are relative).
        metadata_root (str): e.g. ``metadata/ILSVRC``.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        with_bbox (bool): read ``localization.txt``. Defaults to True for
            ``val`` / ``test``, False for ``train``.
        classes (Sequence[str], optional): class names; default
            ``class_0 ... class_{C-1}`` with C = largest label + 1.
        **kwargs: MMPretrain ``BaseDataset`` arguments.
    """

    #: Arguments set by the class itself -> why (see check_dataset_kwargs).
    FIXED_KWARGS = dict(
        ann_file='the annotations are read from metadata_root/<split>/.',
        metainfo='name the classes with classes=[...].')

    def __init__(self,
                 data_root: str,
                 metadata_root: str,
                 split: str = 'train',
                 with_bbox: Optional[bool] = None,
                 classes: Optional[Sequence[str]] = None,
                 **kwargs) -> None:
        check_dataset_kwargs(self, kwargs, BaseDataset.__init__)
        if split not in ('train', 'val', 'test'):
            raise ConfigError('WSOLMetadataDataset: split must be train, '
                              f'val or test, got {split!r}.')
        self.metadata_dir = require_path(
            osp.join(osp.expanduser(metadata_root), split), 'WSOL metadata',
            _HOW_TO_GET)
        self.split = split
        self.with_bbox = split != 'train' if with_bbox is None else with_bbox
        self._labels = self._read_labels()
        num = max(self._labels.values()) + 1 if self._labels else 0
        names = tuple(classes) if classes is not None else tuple(
            f'class_{i}' for i in range(num))
        if len(names) < num:
            raise ConfigError(
                f'WSOLMetadataDataset: {len(names)} class names given but '
                f'{self.metadata_dir}/class_labels.txt uses labels up to '
                f'{num - 1}.')
        super().__init__(
            ann_file='',
            data_root=data_root,
            metainfo=dict(classes=names),
            **kwargs)

    def _read_labels(self) -> 'OrderedDict[str, int]':
        path = osp.join(self.metadata_dir, 'class_labels.txt')
        labels = OrderedDict()
        first_line = {}
        lines = read_nonempty_lines(
            path, dataset='WSOL metadata', how_to_get=_HOW_TO_GET)
        if not lines:
            raise AnnotationError(
                path, None, 'lists no image ("<image path>,<label>" per '
                'line). ' + _HOW_TO_GET)
        for lineno, line in lines:
            fields = line.rsplit(',', 1)
            try:
                if len(fields) != 2:
                    raise ValueError
                label = int(fields[1])
                if label < 0:
                    raise ValueError
            except ValueError:
                raise AnnotationError(
                    path, lineno, 'expected "<image path>,<label>" with a '
                    f'non-negative integer label, got "{line}".') from None
            if fields[0] in labels:
                raise AnnotationError(
                    path, lineno, f'image "{fields[0]}" is listed twice '
                    f'(first on line {first_line[fields[0]]}); remove one of '
                    'the lines.')
            first_line[fields[0]] = lineno
            labels[fields[0]] = label
        self._label_lines = first_line
        return labels

    def _read_boxes(self) -> dict:
        path = osp.join(self.metadata_dir, 'localization.txt')
        boxes = {}
        for lineno, line in read_nonempty_lines(
                path, dataset='WSOL metadata', how_to_get=_HOW_TO_GET):
            fields = line.split(',')
            try:
                if len(fields) != 5:
                    raise ValueError
                box = [float(v) for v in fields[1:]]
            except ValueError:
                raise AnnotationError(
                    path, lineno, 'expected "<image path>,x0,y0,x1,y1", got '
                    f'"{line}".') from None
            if box[2] < box[0] or box[3] < box[1]:
                raise AnnotationError(
                    path, lineno, f'box {box} has x1 < x0 or y1 < y0.')
            if fields[0] not in self._labels:
                raise AnnotationError(
                    path, lineno, f'image "{fields[0]}" is not in '
                    'class_labels.txt of the same split.')
            boxes.setdefault(fields[0], []).append(box)
        return boxes

    def load_data_list(self) -> List[dict]:
        """One dict per image of ``class_labels.txt``, in file order."""
        boxes = self._read_boxes() if self.with_bbox else {}
        data_list = []
        for rel, label in self._labels.items():
            if self.with_bbox and self.split != 'train' and rel not in boxes:
                raise AnnotationError(
                    osp.join(self.metadata_dir, 'localization.txt'), None,
                    f'image "{rel}" (class_labels.txt line '
                    f'{self._label_lines[rel]}) has no box. Every {self.split}'
                    ' image needs at least one "<image path>,x0,y0,x1,y1" '
                    'line; restore the file, or set with_bbox=False.')
            info = dict(
                img_path=osp.join(self.data_root, rel), gt_label=label)
            if rel in boxes:
                info['gt_bboxes'] = np.asarray(boxes[rel], dtype=np.float32)
            data_list.append(info)
        return data_list

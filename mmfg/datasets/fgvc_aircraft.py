"""FGVC-Aircraft (Maji et al., 2013)."""
import os.path as osp
from typing import Any, Dict, List, Optional

import numpy as np

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, ConfigError
from .base import FineGrainedDataset
from .utils import (check_dataset_kwargs, check_same_keys, read_keyed,
                    read_nonempty_lines, read_rows)

_LEVEL_FILES = {
    'variant': 'variants.txt',
    'family': 'families.txt',
    'manufacturer': 'manufacturers.txt'
}


@DATASETS.register_module()
class FGVCAircraft(FineGrainedDataset):
    """The FGVC-Aircraft-2013b dataset (10,000 images).

    Official layout::

        fgvc-aircraft-2013b/                  <- data_root
        └── data/
            ├── images/<image_id>.jpg
            ├── images_{train,val,test}.txt           <image_id>
            ├── images_{variant,family,manufacturer}_{train,val,test}.txt
            │                                         <image_id> <name>
            ├── variants.txt, families.txt, manufacturers.txt   (one name a
            │                                         line: the label order)
            └── images_box.txt                <image_id> xmin ymin xmax ymax

    The dataset has an official validation set: ``train`` / ``val`` /
    ``test`` (3,334 / 3,333 / 3,333), ``trainval`` = train + val (as
    MMPretrain's default) and ``all``. Labels follow ``level``: 100
    variants, 70 families or 30 manufacturers, indexed by the order of the
    matching names file.

    Boxes are given as written in ``images_box.txt`` (1-based pixel
    coordinates of the original image). Note that every image carries a
    20-pixel copyright banner at the bottom, which the official protocol
    leaves in; crop it in the pipeline if needed (boxes lie above it).

    Keys of ``get_data_info``: ``img_path``, ``img_id`` (the numeric image
    id; file names keep their leading zeros), ``gt_label`` and, with
    ``with_bbox``, ``gt_bboxes`` float32 ``(1, 4)`` ``x1, y1, x2, y2``.

    Args:
        data_root (str): the ``fgvc-aircraft-2013b`` folder.
        split (str, optional): ``'train'``, ``'val'``, ``'trainval'``,
            ``'test'`` or ``'all'``. Defaults to None: ``'trainval'`` (as
            MMPretrain), or ``'all'`` when ``class_split`` is set.
        level (str): ``'variant'``, ``'family'`` or ``'manufacturer'``.
            Defaults to ``'variant'``.
        with_bbox (bool): load boxes. Defaults to True.
        data_prefix (str | dict): image folder. Defaults to
            ``'data/images'``.
        class_split (str, optional): None, ``'first'`` or ``'second'`` (see
            :class:`~mmfg.datasets.base.FineGrainedDataset`).
        **kwargs: :class:`~mmfg.datasets.base.FineGrainedDataset` arguments
            except ``val_ratio``/``val_seed`` (the validation set is
            official).
    """

    DATASET_NAME = 'FGVC-Aircraft'
    HOW_TO_GET = ('Download fgvc-aircraft-2013b.tar.gz from '
                  'https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ and '
                  'extract it; data_root is the folder that contains data/.')
    SPLITS = ('trainval', 'train', 'val', 'test', 'all')
    OFFICIAL_VAL = True
    FIXED_KWARGS = dict.fromkeys(
        ('val_ratio', 'val_seed'),
        'FGVC-Aircraft has an official validation set (data/images_val.txt),'
        ' so nothing is held out.')

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 level: str = 'variant',
                 with_bbox: bool = True,
                 data_prefix: Any = osp.join('data', 'images'),
                 class_split: Optional[str] = None,
                 **kwargs):
        check_dataset_kwargs(self, kwargs, FineGrainedDataset.__init__)
        if level not in _LEVEL_FILES:
            raise ConfigError(f'FGVCAircraft: level must be one of '
                              f'{list(_LEVEL_FILES)}, got {level!r}.')
        self.level = level
        self.with_bbox = with_bbox
        super().__init__(
            data_root=data_root,
            split=split,
            data_prefix=data_prefix,
            class_split=class_split,
            val_ratio=0,
            **kwargs)

    def _path(self, name: str) -> str:
        return osp.join(self.data_root, 'data', name)

    def _load_meta(self) -> Dict[str, Any]:
        names = [
            name for _, name in read_nonempty_lines(
                self._path(_LEVEL_FILES[self.level]),
                dataset=self.DATASET_NAME,
                how_to_get=self.HOW_TO_GET)
        ]
        if not names:
            raise AnnotationError(
                self._path(_LEVEL_FILES[self.level]), None, 'lists no class '
                'name. Restore it from the original download.')
        seen = set()
        for name in names:
            if name in seen:
                raise AnnotationError(
                    self._path(_LEVEL_FILES[self.level]), None,
                    f'class name "{name}" appears twice.')
            seen.add(name)
        self._label_of_name = {name: i for i, name in enumerate(names)}
        return dict(classes=names)

    def _parts(self) -> List[str]:
        return {
            'trainval': ['train', 'val'],
            'all': ['train', 'val', 'test']
        }.get(self.split, [self.split])

    def _load_samples(self) -> List[dict]:
        samples = []
        first_seen: Dict[str, str] = {}
        for part in self._parts():
            ids_path = self._path(f'images_{part}.txt')
            ids = read_keyed(
                ids_path, [('image_id', str)],
                dataset=self.DATASET_NAME,
                how_to_get=self.HOW_TO_GET)
            if not ids:
                raise AnnotationError(
                    ids_path, None, 'lists no image. Restore it from the '
                    'original download.')
            labels_path = self._path(f'images_{self.level}_{part}.txt')
            labels = read_keyed(
                labels_path, [('image_id', str), ('name', str)],
                dataset=self.DATASET_NAME,
                how_to_get=self.HOW_TO_GET,
                rest=True)
            check_same_keys(ids, ids_path, labels, labels_path)
            for image_id, (lineno, (name, )) in labels.items():
                if image_id in first_seen:
                    raise AnnotationError(
                        labels_path, lineno, f'image {image_id} is also in '
                        f'the {first_seen[image_id]} split; the official '
                        'splits are disjoint.')
                first_seen[image_id] = part
                if name not in self._label_of_name:
                    raise AnnotationError(
                        labels_path, lineno, f'"{name}" is not listed in '
                        f'"{self._path(_LEVEL_FILES[self.level])}".')
                if not image_id.isdigit():
                    raise AnnotationError(
                        ids_path, ids[image_id][0], 'image ids are digits, '
                        f'got "{image_id}".')
                samples.append(
                    dict(
                        img_path=osp.join(self.img_prefix, image_id + '.jpg'),
                        img_id=int(image_id),
                        gt_label=self._label_of_name[name],
                        _split=part))
        if self.with_bbox:
            self._add_boxes(samples)
        return samples

    def _add_boxes(self, samples: List[dict]) -> None:
        path = self._path('images_box.txt')
        rows = read_rows(
            path, [('image_id', str), ('xmin', float), ('ymin', float),
                   ('xmax', float), ('ymax', float)],
            dataset=self.DATASET_NAME,
            how_to_get=self.HOW_TO_GET)
        boxes: Dict[str, tuple] = {}
        for lineno, (image_id, x1, y1, x2, y2) in rows:
            if image_id in boxes:
                raise AnnotationError(
                    path, lineno, f'duplicate image id {image_id} (first on '
                    f'line {boxes[image_id][0]}).')
            if x2 < x1 or y2 < y1:
                raise AnnotationError(
                    path, lineno, f'xmax/ymax must not be smaller than '
                    f'xmin/ymin, got {x1} {y1} {x2} {y2}.')
            boxes[image_id] = (lineno, (x1, y1, x2, y2))
        for sample in samples:
            image_id = osp.splitext(osp.basename(sample['img_path']))[0]
            if image_id not in boxes:
                raise AnnotationError(
                    path, None, f'image {image_id} has no box line. Every '
                    'image needs one; restore the file or set '
                    'with_bbox=False.')
            sample['gt_bboxes'] = np.asarray([boxes[image_id][1]],
                                             dtype=np.float32)

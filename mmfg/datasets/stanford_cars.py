"""Stanford Cars (Krause et al., 3dRR 2013)."""
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError
from .base import FineGrainedDataset
from .utils import find_path, load_mat, mat_field, mat_list


@DATASETS.register_module()
class StanfordCars(FineGrainedDataset):
    """The Stanford Cars dataset (196 models, 8,144 train / 8,041 test).

    Two official layouts are accepted (the first one found wins):

    1. the single-file release (as MMPretrain's ``StanfordCars``)::

           data_root/
           ├── car_ims/000001.jpg ...
           └── cars_annos.mat    annotations(relative_im_path, bbox_x1,
                                 bbox_y1, bbox_x2, bbox_y2, class, test),
                                 class_names

    2. the devkit release::

           data_root/
           ├── cars_train/00001.jpg ...
           ├── cars_test/00001.jpg ...
           ├── cars_test_annos_withlabels.mat   (here or in devkit/)
           └── devkit/
               ├── cars_meta.mat                class_names
               └── cars_train_annos.mat         annotations(bbox_x1, bbox_y1,
                                                bbox_x2, bbox_y2, class, fname)

    ``class`` is 1-based. Boxes are kept as written (original pixels).
    ``val`` is held out of the official training set (see
    :class:`~mmfg.datasets.base.FineGrainedDataset`); the metric-learning
    protocol is ``class_split='first'`` / ``'second'`` (98 / 98 classes).

    Keys of ``get_data_info``: ``img_path``, ``gt_label`` and, with
    ``with_bbox``, ``gt_bboxes`` float32 ``(1, 4)`` ``x1, y1, x2, y2``.

    Args:
        data_root (str): dataset root.
        split (str, optional): ``'train'``, ``'val'``, ``'trainval'``,
            ``'test'`` or ``'all'``. Defaults to None: ``'train'``, or
            ``'all'`` when ``class_split`` is set.
        with_bbox (bool): load boxes. Defaults to True.
        train_prefix (str): devkit training image folder. Defaults to
            ``'cars_train'``.
        test_prefix (str): devkit test image folder. Defaults to
            ``'cars_test'``.
        **kwargs: :class:`~mmfg.datasets.base.FineGrainedDataset` arguments.
    """

    DATASET_NAME = 'Stanford Cars'
    HOW_TO_GET = (
        'The original site (https://ai.stanford.edu/~jkrause/cars/'
        'car_dataset.html) is offline; use a mirror of car_ims.tgz + '
        'cars_annos.mat, or of cars_train.tgz, cars_test.tgz, car_devkit.tgz '
        'and cars_test_annos_withlabels.mat, extracted into data_root.')
    _BOX_KEYS = ('bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2')

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 with_bbox: bool = True,
                 train_prefix: str = 'cars_train',
                 test_prefix: str = 'cars_test',
                 **kwargs):
        self.with_bbox = with_bbox
        self.train_prefix = train_prefix
        self.test_prefix = test_prefix
        super().__init__(data_root=data_root, split=split, **kwargs)

    # ------------------------------------------------------------------
    def _single_file(self) -> Optional[str]:
        path = osp.join(self.data_root, 'cars_annos.mat')
        return path if osp.exists(path) else None

    def _load_meta(self) -> Dict[str, Any]:
        single = self._single_file()
        if single is not None:
            path = single
        else:
            path = find_path([
                osp.join(self.data_root, 'devkit', 'cars_meta.mat'),
                osp.join(self.data_root, 'cars_meta.mat')
            ], self.DATASET_NAME, self.HOW_TO_GET)
        mat = load_mat(path, dataset=self.DATASET_NAME)
        names = [str(n) for n in mat_list(mat_field(path, mat, 'class_names'))]
        if not names:
            raise AnnotationError(
                path, None, '"class_names" is empty. Download the file '
                'again.')
        self._num_all_classes = len(names)
        return dict(classes=names)

    def _annotation_files(self) -> List[Tuple[str, str, str]]:
        """``(annotation file, image folder, official split)`` to read."""
        single = self._single_file()
        if single is not None:
            return [(single, self.data_root, '')]
        files = []
        if self.split != 'test':
            files.append((find_path([
                osp.join(self.data_root, 'devkit', 'cars_train_annos.mat'),
                osp.join(self.data_root, 'cars_train_annos.mat')
            ], self.DATASET_NAME, self.HOW_TO_GET),
                          osp.join(self.data_root,
                                   self.train_prefix), 'train'))
        if self.split in ('test', 'all'):
            files.append((find_path([
                osp.join(self.data_root, 'cars_test_annos_withlabels.mat'),
                osp.join(self.data_root, 'devkit',
                         'cars_test_annos_withlabels.mat')
            ], self.DATASET_NAME, 'The test labels are a separate file, '
                                    'cars_test_annos_withlabels.mat. ' +
                                    self.HOW_TO_GET),
                          osp.join(self.data_root, self.test_prefix), 'test'))
        return files

    def _load_samples(self) -> List[dict]:
        num_classes = self._num_all_classes
        samples = []
        first: Dict[str, Tuple[str, int]] = {}
        for path, folder, part in self._annotation_files():
            mat = load_mat(path, dataset=self.DATASET_NAME)
            records = mat_list(mat_field(path, mat, 'annotations'))
            if not records:
                raise AnnotationError(
                    path, None, '"annotations" is empty. Download the file '
                    'again.')
            name_key = 'fname' if part else 'relative_im_path'
            needed = (name_key, 'class') + (('test', ) if not part else ())
            if self.with_bbox:
                needed += self._BOX_KEYS
            for k, rec in enumerate(records):
                where = f'annotations[{k}]'
                if not isinstance(rec, dict):
                    raise AnnotationError(
                        path, None, f'{where} is not a struct; is this the '
                        'official annotation file?')
                for key in needed:
                    if key not in rec:
                        raise AnnotationError(
                            path, None, f'{where} has no field "{key}" '
                            f'(found {sorted(rec)}).')
                label = self._number(rec['class'], path, where, 'class')
                if label != int(label) or not 1 <= label <= num_classes:
                    raise AnnotationError(
                        path, None, f'{where}: class must be an integer in '
                        f'1..{num_classes}, got {label}.')
                split = part or ('test' if self._number(
                    rec['test'], path, where, 'test') else 'train')
                img_path = osp.join(folder, str(rec[name_key]))
                if img_path in first:
                    first_path, first_k = first[img_path]
                    raise AnnotationError(
                        path, None, f'{where}: image "{rec[name_key]}" is '
                        f'already annotated by annotations[{first_k}] of '
                        f'"{first_path}". Each image needs exactly one '
                        'record; download the file again.')
                first[img_path] = (path, k)
                sample = dict(
                    img_path=img_path,
                    gt_label=int(label) - 1,
                    _split=split)
                if self.with_bbox:
                    box = [
                        self._number(rec[key], path, where, key)
                        for key in self._BOX_KEYS
                    ]
                    if box[2] < box[0] or box[3] < box[1]:
                        raise AnnotationError(
                            path, None,
                            f'{where}: bbox_x2/bbox_y2 must not be '
                            f'smaller than bbox_x1/bbox_y1, got {box}.')
                    sample['gt_bboxes'] = np.asarray([box], dtype=np.float32)
                samples.append(sample)
        return samples

    @staticmethod
    def _number(value: Any, path: str, where: str, key: str) -> float:
        try:
            number = float(np.asarray(value).reshape(-1)[0])
        except (TypeError, ValueError, IndexError):
            number = float('nan')
        if not np.isfinite(number):
            raise AnnotationError(
                path, None, f'{where}: field "{key}" must be a number, got '
                f'{value!r}.')
        return number

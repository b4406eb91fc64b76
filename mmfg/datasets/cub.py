"""CUB-200-2011 with boxes, parts, attributes, masks and text."""
import os.path as osp
import re
from typing import Any, Dict, Hashable, List, Optional, Sequence

import numpy as np

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError
from .cub_style import CUBStyleDataset
from .utils import (KeyedRows, find_path, read_int_matrix_fast, read_keyed,
                    read_nonempty_lines, read_rows)

_CUB_URL = ('Download CUB_200_2011.tgz from '
            'https://data.caltech.edu/records/65de6-vp158 and extract it; '
            'data_root is the folder that contains images.txt.')
_SEG_URL = ('The masks are a separate download (segmentations.tgz, '
            'https://data.caltech.edu/records/w9d68-gec53); extract it into '
            'data_root or set mask_prefix.')
_TEXT_URL = ('The descriptions of Reed et al. (cvpr2016_cub.tar.gz, '
             'https://github.com/reedscot/cvpr2016) are a separate download; '
             'extract its text_c10 folder into data_root or set text_prefix.')


@DATASETS.register_module()
class CUB(CUBStyleDataset):
    """The CUB-200-2011 dataset with every annotation it ships.

    A superset of MMPretrain's ``CUB`` (same constructor arguments): also
    boxes, parts, attributes, segmentation masks, text descriptions, a
    held-out validation split and class-disjoint (metric-learning) splits.

    Layout (the original archive; masks and text are separate downloads)::

        CUB_200_2011/                      <- data_root
        ├── images/<class>/<file>.jpg
        ├── images.txt, image_class_labels.txt, train_test_split.txt
        ├── classes.txt, bounding_boxes.txt
        ├── parts/parts.txt, parts/part_locs.txt
        ├── attributes/image_attribute_labels.txt
        ├── attributes/class_attribute_labels_continuous.txt
        ├── attributes/attributes.txt      (or ../attributes.txt, as in the
        │                                   original tarball)
        ├── segmentations/<class>/<file>.png          (optional)
        └── text/ or text_c10/<class>/<file>.txt      (optional)

    Splits: ``test`` is the official test set (5,794 images). ``val`` is a
    seeded, per-class stratified ``val_ratio`` share of the official training
    set, ``train`` the rest of it, ``trainval`` the whole official training
    set (5,994) and ``all`` everything; with the defaults, ``train``,
    ``val`` and ``test`` partition the data. Use ``val_ratio=0`` for
    MMPretrain's ``train`` (= official training set).

    Metric learning: ``class_split='first'`` gives every image of classes
    1-100 (5,864), ``'second'`` of classes 101-200 (5,924), labels 0..99.

    Keys of ``get_data_info``: ``img_path``, ``img_id`` (``images.txt`` id),
    ``gt_label``; with ``with_bbox`` ``gt_bboxes`` float32 ``(1, 4)``
    ``x, y, x + w, y + h``; with ``with_parts`` ``gt_parts`` float32
    ``(15, 3)`` ``x, y, visible`` (invisible rows ``0, 0, 0``) and
    ``part_flip_pairs`` (left/right eye, leg, wing); with
    ``with_attributes`` ``attributes`` float32 ``(312,)`` (0/1 presence) and
    ``attribute_certainty`` int64 ``(312,)`` (1..4, 0 where the file has no
    row); with ``with_mask`` ``gt_mask_path``; with ``with_text``
    ``text_path`` and ``texts`` (one description per non-blank line).

    ``image_attribute_labels.txt`` lines are
    ``<image> <attribute> <is_present> <certainty> <time>``. A few lines of
    the real file carry an extra field; only the first four fields are used,
    so those lines load as intended. Lines with fewer than four fields or
    non-integer values among them are errors.

    Dataset-level: ``metainfo['classes']`` (names without the ``001.``
    prefix, as MMPretrain), ``metainfo['class_ids']``,
    ``metainfo['part_names']``, ``metainfo['part_flip_pairs']``,
    ``metainfo['attribute_names']`` (with ``with_attributes``) and
    :attr:`class_attributes`.

    Args:
        data_root (str): the ``CUB_200_2011`` folder.
        split (str, optional): ``'train'``, ``'val'``, ``'trainval'``,
            ``'test'`` or ``'all'``. Defaults to None: ``'train'``, or
            ``'all'`` when ``class_split`` is set.
        test_mode (bool): MMEngine's test mode (no re-fetch on a failed
            sample). Defaults to False.
        data_prefix (str | dict): image folder. Defaults to ``'images'``.
        pipeline (Sequence): transforms. Defaults to ``()``.
        with_bbox (bool): load boxes. Defaults to True.
        with_parts (bool): load part keypoints. Defaults to True.
        with_attributes (bool): load per-image attributes. Defaults to False.
        with_mask (bool): set ``gt_mask_path`` (``LoadMask`` reads it).
            Defaults to False.
        with_text (bool): load text descriptions. Defaults to False.
        mask_prefix (str): mask folder under ``data_root``; masks mirror the
            image paths with a ``.png`` suffix. Defaults to
            ``'segmentations'``.
        text_prefix (str, optional): text folder under ``data_root``; files
            mirror the image paths with a ``.txt`` suffix. Defaults to None:
            ``'text'`` or else ``'text_c10'``.
        class_split (str, optional): None, ``'first'`` or ``'second'``.
        num_first_classes (int, optional): classes in the first group.
            Defaults to half (100).
        val_ratio (float): validation share per class of the official
            training set. Defaults to 0.1.
        val_seed (int): seed of the validation split. Defaults to 0.
        **kwargs: other :class:`~mmpretrain.datasets.BaseDataset` arguments
            (``lazy_init``, ``indices``, ``metainfo``, ...).

    Examples:
        >>> from mmfg.datasets import CUB
        >>> val = CUB('data/CUB_200_2011', split='val', with_attributes=True)
        >>> info = val.get_data_info(0)
        >>> info['gt_parts'].shape, info['attributes'].shape
        ((15, 3), (312,))
    """

    DATASET_NAME = 'CUB-200-2011'
    HOW_TO_GET = _CUB_URL

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 test_mode: bool = False,
                 data_prefix: Any = 'images',
                 pipeline: Sequence = (),
                 with_bbox: bool = True,
                 with_parts: bool = True,
                 with_attributes: bool = False,
                 with_mask: bool = False,
                 with_text: bool = False,
                 mask_prefix: str = 'segmentations',
                 text_prefix: Optional[str] = None,
                 class_split: Optional[str] = None,
                 num_first_classes: Optional[int] = None,
                 val_ratio: float = 0.1,
                 val_seed: int = 0,
                 **kwargs):
        self.with_attributes = with_attributes
        self.with_mask = with_mask
        self.with_text = with_text
        self.mask_prefix = mask_prefix
        self.text_prefix = text_prefix
        self._class_attributes_all: Optional[np.ndarray] = None
        super().__init__(
            data_root=data_root,
            split=split,
            test_mode=test_mode,
            data_prefix=data_prefix,
            pipeline=pipeline,
            with_bbox=with_bbox,
            with_parts=with_parts,
            class_split=class_split,
            num_first_classes=num_first_classes,
            val_ratio=val_ratio,
            val_seed=val_seed,
            **kwargs)

    @property
    def class_attributes(self) -> Optional[np.ndarray]:
        """Class-level continuous attributes, float32 ``(C, A)``.

        Rows follow the labels of this dataset (restricted by
        ``class_split``); values as in
        ``attributes/class_attribute_labels_continuous.txt`` (percentages,
        0..100). None when the file is absent.
        """
        if self._class_attributes_all is None:
            return None
        return self._class_attributes_all[self._class_lo:self._class_hi]

    def _class_name(self, raw: str) -> str:
        return re.sub(r'^\d+\.', '', raw)

    # ------------------------------------------------------------------
    def _attribute_names_path(self) -> str:
        return find_path([
            self._path('attributes', 'attributes.txt'),
            osp.join(osp.dirname(self.data_root), 'attributes.txt'),
            self._path('attributes.txt')
        ], self.DATASET_NAME, 'attributes.txt (312 lines "<id> <name>") comes '
                         'with the CUB archive, next to the CUB_200_2011 '
                         'folder. ' + self.HOW_TO_GET)

    def _load_meta(self) -> Dict[str, Any]:
        meta = super()._load_meta()
        if self.with_attributes:
            path = self._attribute_names_path()
            names = read_keyed(
                path, [('attribute_id', int), ('attribute_name', str)],
                dataset=self.DATASET_NAME,
                rest=True)
            self._attribute_ids = sorted(names)
            meta['attribute_names'] = [
                names[a][1][0] for a in self._attribute_ids
            ]
        cls_path = self._path('attributes',
                              'class_attribute_labels_continuous.txt')
        if osp.exists(cls_path):
            self._class_attributes_all = self._read_class_attributes(
                cls_path, len(meta['class_ids']),
                len(meta.get('attribute_names', ())) or None)
        return meta

    @staticmethod
    def _read_class_attributes(path: str, num_classes: int,
                               num_attributes: Optional[int]) -> np.ndarray:
        """Read the ``(C, A)`` table of class-level attribute percentages."""
        rows = []
        for lineno, line in read_nonempty_lines(path, dataset='CUB-200-2011'):
            tokens = line.split()
            if rows and len(tokens) != len(rows[0]):
                raise AnnotationError(
                    path, lineno, f'expected {len(rows[0])} numbers like the '
                    f'lines before, got {len(tokens)}.')
            try:
                rows.append([float(t) for t in tokens])
            except ValueError:
                raise AnnotationError(
                    path, lineno, 'every field must be a number.') from None
        table = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        if table.shape[0] != num_classes:
            raise AnnotationError(
                path, None, f'has {table.shape[0]} rows but classes.txt '
                f'defines {num_classes} classes; one row per class is '
                'needed.')
        if num_attributes is not None and table.shape[1] != num_attributes:
            raise AnnotationError(
                path, None, f'has {table.shape[1]} columns but attributes.txt '
                f'defines {num_attributes} attributes.')
        return table

    # ------------------------------------------------------------------
    def _add_extras(self, samples: List[dict], keys: List[Hashable],
                    images: KeyedRows) -> None:
        rel_paths = [images[k][1][0] for k in keys]
        if self.with_attributes:
            present, certainty = self._load_attributes(keys)
            for sample, p, c in zip(samples, present, certainty):
                sample['attributes'] = p
                sample['attribute_certainty'] = c
        if self.with_mask:
            folder = self._path(self.mask_prefix)
            if not osp.isdir(folder):
                raise DatasetNotFoundError(folder, self.DATASET_NAME, _SEG_URL)
            for sample, rel in zip(samples, rel_paths):
                path = osp.join(folder, osp.splitext(rel)[0] + '.png')
                if not osp.isfile(path):
                    raise DatasetNotFoundError(
                        path, self.DATASET_NAME,
                        'The segmentation folder is incomplete; re-extract '
                        'it. ' + _SEG_URL)
                sample['gt_mask_path'] = path
        if self.with_text:
            if self.text_prefix is None:
                folder = find_path(
                    [self._path('text'),
                     self._path('text_c10')], self.DATASET_NAME, _TEXT_URL)
            else:
                folder = self._path(self.text_prefix)
                if not osp.isdir(folder):
                    raise DatasetNotFoundError(folder, self.DATASET_NAME,
                                               _TEXT_URL)
            for sample, rel in zip(samples, rel_paths):
                path = osp.join(folder, osp.splitext(rel)[0] + '.txt')
                lines = read_nonempty_lines(
                    path,
                    dataset=self.DATASET_NAME,
                    how_to_get='The text folder is incomplete; re-extract it.'
                    + ' ' + _TEXT_URL)
                sample['text_path'] = path
                sample['texts'] = [text for _, text in lines]

    def _load_attributes(self, keys: List[Hashable]):
        """Per-image attribute presence and certainty.

        Args:
            keys (list[int]): image ids in sample order, length N.

        Returns:
            tuple[list[np.ndarray], list[np.ndarray]]: float32 ``(A,)``
            presence and int64 ``(A,)`` certainty per image.
        """
        path = self._path('attributes', 'image_attribute_labels.txt')
        image_ids = np.asarray(keys, dtype=np.int64)
        attr_ids = np.asarray(self._attribute_ids, dtype=np.int64)
        table = None
        if osp.exists(path):
            table = read_int_matrix_fast(path, 4)
        if table is not None:
            rows = self._attribute_rows(table, image_ids, attr_ids)
        else:
            rows = None
        if rows is None:
            # Slow path: locate and report the first bad line.
            self._check_attribute_lines(path, image_ids, attr_ids)
            raise AnnotationError(
                path, None, 'cannot be parsed as "<image_id> <attribute_id> '
                '<is_present> <certainty_id> ..." lines; restore it from the '
                'original download.')
        img_idx, attr_idx, present, certainty = rows
        num_attr = len(attr_ids)
        pres = np.zeros((len(keys), num_attr), dtype=np.float32)
        cert = np.zeros((len(keys), num_attr), dtype=np.int64)
        pres[img_idx, attr_idx] = present
        cert[img_idx, attr_idx] = certainty
        return list(pres), list(cert)

    @staticmethod
    def _attribute_rows(table: np.ndarray, image_ids: np.ndarray,
                        attr_ids: np.ndarray):
        """Vectorised validation; None when any row is invalid."""
        if len(image_ids) == 0 or len(attr_ids) == 0:
            return None if len(table) else (np.zeros(0, np.int64), ) * 4
        order = np.argsort(image_ids)
        sorted_ids = image_ids[order]
        pos = np.clip(
            np.searchsorted(sorted_ids, table[:, 0]), 0,
            len(sorted_ids) - 1)
        if not np.all(sorted_ids[pos] == table[:, 0]):
            return None
        apos = np.clip(
            np.searchsorted(attr_ids, table[:, 1]), 0,
            len(attr_ids) - 1)
        if not np.all(attr_ids[apos] == table[:, 1]):
            return None
        if not np.all(np.isin(table[:, 2], (0, 1))):
            return None
        if not np.all((table[:, 3] >= 1) & (table[:, 3] <= 4)):
            return None
        img_idx = order[pos]
        flat = img_idx * len(attr_ids) + apos
        if flat.size and np.bincount(
                flat, minlength=len(image_ids) * len(attr_ids)).max() > 1:
            return None  # a duplicate (image, attribute) row
        return img_idx, apos, table[:, 2], table[:, 3]

    def _check_attribute_lines(self, path: str, image_ids: np.ndarray,
                               attr_ids: np.ndarray) -> None:
        """Re-read ``path`` line by line and raise on the first bad line."""
        rows = read_rows(
            path, [('image_id', int), ('attribute_id', int),
                   ('is_present', int), ('certainty_id', int)],
            dataset=self.DATASET_NAME,
            how_to_get=self.HOW_TO_GET,
            extra='ignore')
        known_images = set(image_ids.tolist())
        known_attrs = set(attr_ids.tolist())
        seen: Dict[tuple, int] = {}
        for lineno, (img, attr, present, certainty) in rows:
            if img not in known_images:
                raise AnnotationError(
                    path, lineno, f'unknown image id {img}: it is not listed '
                    f'in "{self._path("images.txt")}".')
            if attr not in known_attrs:
                raise AnnotationError(
                    path, lineno, f'unknown attribute id {attr}: it is not '
                    'listed in attributes.txt.')
            if present not in (0, 1):
                raise AnnotationError(
                    path, lineno, f'is_present must be 0 or 1, got {present}.')
            if not 1 <= certainty <= 4:
                raise AnnotationError(
                    path, lineno,
                    f'certainty_id must be in 1..4, got {certainty}.')
            if (img, attr) in seen:
                raise AnnotationError(
                    path, lineno, f'duplicate row for image {img}, attribute '
                    f'{attr} (first on line {seen[(img, attr)]}).')
            seen[(img, attr)] = lineno

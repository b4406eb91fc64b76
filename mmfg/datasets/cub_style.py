"""Shared reader of the CUB-200-2011 text layout (used by CUB, NABirds)."""
import os.path as osp
from typing import Any, Callable, Dict, Hashable, List, Optional

import numpy as np

from mmfg.utils.errors import AnnotationError
from .base import FineGrainedDataset
from .utils import (KeyedRows, check_dataset_kwargs, check_same_keys,
                    part_flip_pairs, read_keyed, read_rows)


class CUBStyleDataset(FineGrainedDataset):
    """Datasets stored in the CUB-200-2011 text layout (abstract).

    Layout under ``data_root`` (image ids may be integers or strings, see
    ``ID_TYPE``; class and part ids need not be contiguous, they are mapped
    to 0-based indices in increasing id order)::

        images.txt               <image_id> <relative image path>
        image_class_labels.txt   <image_id> <class_id>
        train_test_split.txt     <image_id> <1: train, 0: test>
        classes.txt              <class_id> <class name, may contain spaces>
        bounding_boxes.txt       <image_id> <x> <y> <width> <height>
        parts/parts.txt          <part_id> <part name, may contain spaces>
        parts/part_locs.txt      <image_id> <part_id> <x> <y> <visible>
        images/<relative image path>

    Every image must appear exactly once in each per-image file it needs.
    Boxes become ``gt_bboxes`` ``(1, 4)`` ``x, y, x + w, y + h``; parts
    become ``gt_parts`` ``(P, 3)`` ``x, y, visible`` with invisible rows
    ``0, 0, 0``; ``part_flip_pairs`` pairs ``left X`` with ``right X``.

    Args:
        data_root (str): dataset root.
        split (str, optional): see :class:`FineGrainedDataset`.
        with_bbox (bool): load ``gt_bboxes``. Defaults to True.
        with_parts (bool): load ``gt_parts`` and ``part_flip_pairs``.
            Defaults to True.
        data_prefix (str | dict): image folder. Defaults to ``'images'``.
        **kwargs: :class:`FineGrainedDataset` arguments.
    """

    #: Arguments set by the class itself -> why (see check_dataset_kwargs).
    FIXED_KWARGS = dict(ann_file='the annotation files are the fixed ones of '
                        'the layout under data_root.')
    #: Converter of image ids (``int`` for CUB, ``str`` for NABirds' UUIDs).
    ID_TYPE: Callable[[str], Hashable] = int

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 with_bbox: bool = True,
                 with_parts: bool = True,
                 data_prefix: Any = 'images',
                 **kwargs):
        check_dataset_kwargs(self, kwargs, FineGrainedDataset.__init__)
        self.with_bbox = with_bbox
        self.with_parts = with_parts
        super().__init__(
            data_root=data_root,
            split=split,
            ann_file='images.txt',
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------------
    def _path(self, *names: str) -> str:
        return osp.join(self.data_root, *names)

    def _read_keyed(self, name: str, fields, **kwargs) -> KeyedRows:
        return read_keyed(
            self._path(name),
            fields,
            dataset=self.DATASET_NAME,
            how_to_get=self.HOW_TO_GET,
            **kwargs)

    def _read_image_labels(self) -> KeyedRows:
        return self._read_keyed('image_class_labels.txt',
                                [('image_id', self.ID_TYPE),
                                 ('class_id', int)])

    def _read_classes(self) -> KeyedRows:
        classes = self._read_keyed(
            'classes.txt', [('class_id', int), ('class_name', str)], rest=True)
        if not classes:
            raise AnnotationError(
                self._path('classes.txt'), None, 'lists no class. Restore '
                'it from the original download ("<class_id> <name>" per '
                'line).')
        return classes

    def _select_class_ids(self, classes: KeyedRows) -> List[int]:
        """Class ids that become labels 0..C-1 (default: every class)."""
        return sorted(classes)

    def _class_name(self, raw: str) -> str:
        """Display name of a class from its ``classes.txt`` entry."""
        return raw

    def _load_meta(self) -> Dict[str, Any]:
        classes = self._read_classes()
        class_ids = self._select_class_ids(classes)
        self._label_of_class = {cid: i for i, cid in enumerate(class_ids)}
        meta: Dict[str, Any] = dict(
            classes=[self._class_name(classes[c][1][0]) for c in class_ids],
            class_ids=class_ids)
        if self.with_parts:
            parts = self._read_keyed(
                osp.join('parts', 'parts.txt'), [('part_id', int),
                                                 ('part_name', str)],
                rest=True)
            self._part_ids = sorted(parts)
            names = [parts[p][1][0] for p in self._part_ids]
            self._part_flip_pairs = part_flip_pairs(names)
            meta['part_names'] = names
            meta['part_flip_pairs'] = list(self._part_flip_pairs)
        return meta

    # ------------------------------------------------------------------
    def _image_id_fields(self, key: Hashable, ordinal: int) -> dict:
        """``img_id`` (and any extra id keys) of the ``ordinal``-th image."""
        return dict(img_id=key)

    def _load_samples(self) -> List[dict]:
        images_path = self._path('images.txt')
        images = self._read_keyed('images.txt', [('image_id', self.ID_TYPE),
                                                 ('image_path', str)])
        if not images:
            raise AnnotationError(
                images_path, None, 'lists no image. Restore it from the '
                'original download ("<image_id> <image path>" per line).')
        labels = self._read_image_labels()
        check_same_keys(images, images_path, labels,
                        self._path('image_class_labels.txt'))
        splits = self._read_keyed('train_test_split.txt',
                                  [('image_id', self.ID_TYPE),
                                   ('is_training_image', int)])
        check_same_keys(images, images_path, splits,
                        self._path('train_test_split.txt'))

        samples = []
        for ordinal, (key, (_, (rel_path, ))) in enumerate(images.items()):
            label_line, (class_id, ) = labels[key]
            if class_id not in self._label_of_class:
                raise AnnotationError(
                    self._path('image_class_labels.txt'), label_line,
                    f'class id {class_id} of image {key!r} is not a class of '
                    f'"{self._path("classes.txt")}". Fix the label or add '
                    'the class.')
            split_line, (is_train, ) = splits[key]
            if is_train not in (0, 1):
                raise AnnotationError(
                    self._path('train_test_split.txt'), split_line,
                    f'is_training_image must be 0 or 1, got {is_train}.')
            sample = dict(img_path=osp.join(self.img_prefix, rel_path))
            sample.update(self._image_id_fields(key, ordinal))
            sample['gt_label'] = self._label_of_class[class_id]
            sample['_split'] = 'train' if is_train else 'test'
            samples.append(sample)

        keys = list(images)
        if self.with_bbox:
            for sample, box in zip(samples, self._load_boxes(images)):
                sample['gt_bboxes'] = box
        if self.with_parts:
            parts = self._load_parts(images)
            for sample, part in zip(samples, parts):
                sample['gt_parts'] = part
                sample['part_flip_pairs'] = list(self._part_flip_pairs)
        self._add_extras(samples, keys, images)
        return samples

    def _add_extras(self, samples: List[dict], keys: List[Hashable],
                    images: KeyedRows) -> None:
        """Add subclass-specific keys to ``samples`` (in place).

        Args:
            samples (list[dict]): one per image, in ``images.txt`` order.
            keys (list): the image ids, same order.
            images (KeyedRows): the parsed ``images.txt``.
        """

    # ------------------------------------------------------------------
    def _load_boxes(self, images: KeyedRows) -> List[np.ndarray]:
        """Boxes per image as float32 ``(1, 4)`` ``x1, y1, x2, y2``."""
        path = self._path('bounding_boxes.txt')
        boxes = self._read_keyed('bounding_boxes.txt',
                                 [('image_id', self.ID_TYPE), ('x', float),
                                  ('y', float), ('width', float),
                                  ('height', float)])
        check_same_keys(images, self._path('images.txt'), boxes, path)
        out = []
        for key in images:
            lineno, (x, y, w, h) = boxes[key]
            if w < 0 or h < 0:
                raise AnnotationError(
                    path, lineno, f'box width/height must be >= 0, got '
                    f'{w}, {h}. Fix the box.')
            out.append(np.array([[x, y, x + w, y + h]], dtype=np.float32))
        return out

    def _load_parts(self, images: KeyedRows) -> List[np.ndarray]:
        """Part keypoints per image as float32 ``(P, 3)`` ``x, y, visible``.
        """
        path = self._path('parts', 'part_locs.txt')
        rows = read_rows(
            path, [('image_id', self.ID_TYPE), ('part_id', int), ('x', float),
                   ('y', float), ('visible', int)],
            dataset=self.DATASET_NAME,
            how_to_get=self.HOW_TO_GET)
        row_of_image = {key: i for i, key in enumerate(images)}
        col_of_part = {pid: j for j, pid in enumerate(self._part_ids)}
        parts = np.zeros((len(images), len(self._part_ids), 3),
                         dtype=np.float32)
        line_of = np.zeros(parts.shape[:2], dtype=np.int64)
        for lineno, (key, part_id, x, y, visible) in rows:
            i = row_of_image.get(key)
            if i is None:
                raise AnnotationError(
                    path, lineno, f'unknown image id {key!r}: it is not '
                    f'listed in "{self._path("images.txt")}".')
            j = col_of_part.get(part_id)
            if j is None:
                raise AnnotationError(
                    path, lineno, f'unknown part id {part_id}: it is not '
                    f'listed in "{self._path("parts", "parts.txt")}".')
            if visible not in (0, 1):
                raise AnnotationError(
                    path, lineno, f'visible must be 0 or 1, got {visible}.')
            if line_of[i, j]:
                raise AnnotationError(
                    path, lineno, f'duplicate row for image {key!r}, part '
                    f'{part_id} (first on line {line_of[i, j]}).')
            line_of[i, j] = lineno
            if visible:
                parts[i, j] = (x, y, 1.0)
        missing = np.argwhere(line_of == 0)
        if missing.size:
            i, j = missing[0]
            key = list(images)[i]
            raise AnnotationError(
                path, None,
                f'{len(missing)} (image, part) rows are missing, e.g. image '
                f'{key!r} part id {self._part_ids[j]}. Every image needs one '
                'row per part (invisible parts as "x y 0"); restore the file '
                'from the original download or set with_parts=False.')
        return list(parts)

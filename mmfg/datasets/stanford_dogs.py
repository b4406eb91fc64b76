"""Stanford Dogs (Khosla et al., FGVC 2011)."""
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError
from .base import FineGrainedDataset
from .utils import (load_mat, mat_field, mat_list, read_rows,
                    read_voc_boxes)

#: One parsed list entry: (file, annotation or None, label or None, where),
#: ``where`` = (path, 1-based line or None) for messages.
_Entry = Tuple[str, Optional[str], Optional[int], Tuple[str, Optional[int]]]


@DATASETS.register_module()
class StanfordDogs(FineGrainedDataset):
    """The Stanford Dogs dataset (120 breeds, 12,000 train / 8,580 test).

    Official layout::

        data_root/
        ├── Images/<wnid>-<breed>/<wnid>_<n>.jpg
        ├── Annotation/<wnid>-<breed>/<wnid>_<n>     (PASCAL-VOC XML)
        └── lists/train_list.mat, lists/test_list.mat

    The ``.mat`` lists hold ``file_list`` (``<wnid>-<breed>/<file>.jpg``),
    ``annotation_list`` and ``labels`` (1-based). Text lists
    ``lists/train_list.txt`` / ``lists/test_list.txt`` (one
    ``<wnid>-<breed>/<file>.jpg [label]`` per line, as many mirrors ship)
    are used when present and preferred over the ``.mat`` files.

    Classes are the breed folders in sorted order (the official label
    order; a ``labels`` entry that disagrees is an error); names are the
    folder names without the WordNet id (``Chihuahua``). Boxes are every
    ``<object><bndbox>`` of the image's XML, as written (VOC pixels).
    ``val`` is held out of the official training set (see
    :class:`~mmfg.datasets.base.FineGrainedDataset`).

    Keys of ``get_data_info``: ``img_path``, ``gt_label`` and, with
    ``with_bbox``, ``gt_bboxes`` float32 ``(N, 4)`` ``x1, y1, x2, y2``.
    ``metainfo['wnids']`` holds the WordNet id per class.

    Args:
        data_root (str): dataset root (contains ``Images`` and ``lists``).
        split (str, optional): ``'train'``, ``'val'``, ``'trainval'``,
            ``'test'`` or ``'all'``. Defaults to None: ``'train'``, or
            ``'all'`` when ``class_split`` is set.
        with_bbox (bool): load boxes from ``Annotation``. Defaults to True.
        data_prefix (str | dict): image folder. Defaults to ``'Images'``.
        ann_prefix (str): XML folder. Defaults to ``'Annotation'``.
        **kwargs: :class:`~mmfg.datasets.base.FineGrainedDataset` arguments.
    """

    DATASET_NAME = 'Stanford Dogs'
    HOW_TO_GET = ('Download images.tar, annotation.tar and lists.tar from '
                  'http://vision.stanford.edu/aditya86/ImageNetDogs/ and '
                  'extract them into data_root.')
    PER_CLASS_META_KEYS = ('classes', 'wnids')

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 with_bbox: bool = True,
                 data_prefix: Any = 'Images',
                 ann_prefix: str = 'Annotation',
                 **kwargs):
        self.with_bbox = with_bbox
        self.ann_prefix = ann_prefix
        super().__init__(
            data_root=data_root,
            split=split,
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------------
    def _list_path(self, part: str) -> Optional[str]:
        for ext in ('.txt', '.mat'):
            path = osp.join(self.data_root, 'lists', f'{part}_list{ext}')
            if osp.exists(path):
                return path
        return None

    def _read_list(self, part: str) -> List[_Entry]:
        """Entries of ``lists/{part}_list.{txt,mat}``."""
        path = self._list_path(part)
        if path is None:
            raise DatasetNotFoundError(
                osp.join(self.data_root, 'lists', f'{part}_list.mat'),
                self.DATASET_NAME, '(or .txt) ' + self.HOW_TO_GET)
        if path.endswith('.txt'):
            return self._read_txt_list(path)
        mat = load_mat(path, dataset=self.DATASET_NAME)
        files = [str(f) for f in mat_list(mat_field(path, mat, 'file_list'))]
        anns = [None] * len(files)
        if 'annotation_list' in mat:
            anns = [str(a) for a in mat_list(mat['annotation_list'])]
        labels: List[Optional[int]] = [None] * len(files)
        if 'labels' in mat:
            labels = [int(v) for v in mat_list(mat['labels'])]
        if not len(files) == len(anns) == len(labels):
            raise AnnotationError(
                path, None, f'file_list ({len(files)}), annotation_list '
                f'({len(anns)}) and labels ({len(labels)}) differ in length.')
        return [(f, a, lab, (path, None))
                for f, a, lab in zip(files, anns, labels)]

    def _read_txt_list(self, path: str) -> List[_Entry]:
        entries = []
        for lineno, values in read_rows(
                path, [('file', str), ('label', str)],
                dataset=self.DATASET_NAME,
                rest=True):
            file, label = values
            entries.append((file, None, self._int_label(label, path, lineno),
                            (path, lineno)))
        # one-field lines are accepted too (no label)
        return entries

    @staticmethod
    def _int_label(token: str, path: str, lineno: int) -> int:
        try:
            return int(token)
        except ValueError:
            raise AnnotationError(
                path, lineno, f'label must be an integer, got "{token}".'
            ) from None

    @staticmethod
    def _folder(file: str, where: Tuple[str, Optional[int]]) -> str:
        folder = file.replace('\\', '/').split('/')[0]
        if folder == file or '-' not in folder:
            raise AnnotationError(
                where[0], where[1], f'entry "{file}" is not '
                '"<wnid>-<breed>/<file>.jpg".')
        return folder

    def _all_entries(self) -> Dict[str, List[_Entry]]:
        parts = {}
        for part in ('train', 'test'):
            if self._list_path(part) is not None or part == 'train' \
                    or self.split in ('test', 'all'):
                parts[part] = self._read_list(part)
        return parts

    def _load_meta(self) -> Dict[str, Any]:
        self._entries = self._all_entries()
        folders = sorted({
            self._folder(f, where)
            for entries in self._entries.values()
            for f, _, _, where in entries
        })
        self._label_of_folder = {f: i for i, f in enumerate(folders)}
        if self._lazy_entries():
            self._entries = None
        return dict(
            classes=[f.split('-', 1)[1] for f in folders],
            wnids=[f.split('-', 1)[0] for f in folders])

    def _lazy_entries(self) -> bool:
        """Whether to drop the parsed lists until ``full_init``."""
        return True

    def _load_samples(self) -> List[dict]:
        entries = self._all_entries()
        samples = []
        seen: Dict[str, Tuple[str, Optional[int]]] = {}
        for part, part_entries in entries.items():
            for file, ann, label, where in part_entries:
                folder = self._folder(file, where)
                if folder not in self._label_of_folder:
                    raise AnnotationError(
                        where[0], where[1], f'class folder "{folder}" was not '
                        'in the lists when the dataset was built; rebuild it.')
                gt_label = self._label_of_folder[folder]
                if label is not None and label - 1 != gt_label:
                    raise AnnotationError(
                        where[0], where[1],
                        f'label {label} of "{file}" does not match its folder '
                        f'"{folder}" (class {gt_label + 1} in sorted folder '
                        'order). Restore the list from the original download.')
                if file in seen:
                    raise AnnotationError(
                        where[0], where[1], f'"{file}" is listed twice (also '
                        f'in {seen[file][0]}, line {seen[file][1]}).')
                seen[file] = where
                sample = dict(
                    img_path=osp.join(self.img_prefix, file),
                    gt_label=gt_label,
                    _split=part)
                if self.with_bbox:
                    sample['gt_bboxes'] = self._boxes(file, ann)
                samples.append(sample)
        return samples

    def _boxes(self, file: str, ann: Optional[str]) -> np.ndarray:
        folder = osp.join(self.data_root, self.ann_prefix)
        stem = ann if ann else osp.splitext(file)[0]
        candidates = [osp.join(folder, stem), osp.join(folder, stem + '.xml')]
        for path in candidates:
            if osp.isfile(path):
                return read_voc_boxes(path)
        raise DatasetNotFoundError(
            candidates[0], self.DATASET_NAME,
            '(annotation.tar) ' + self.HOW_TO_GET +
            ' Or set with_bbox=False.')

"""Stanford Dogs (Khosla et al., FGVC 2011)."""
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError
from .base import FineGrainedDataset
from .utils import (load_mat, mat_field, mat_list, read_nonempty_lines,
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
        entries = self._read_txt_list(path) if path.endswith(
            '.txt') else self._read_mat_list(path)
        if not entries:
            raise AnnotationError(
                path, None, 'lists no image. Restore it from the original '
                'download (lists.tar).')
        return entries

    def _read_mat_list(self, path: str) -> List[_Entry]:
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
        entries: List[_Entry] = []
        for lineno, line in read_nonempty_lines(
                path, dataset=self.DATASET_NAME):
            tokens = line.split()
            if len(tokens) > 2:
                raise AnnotationError(
                    path, lineno, 'expected "<wnid>-<breed>/<file>.jpg '
                    f'[label]", got {len(tokens)} fields: "{line}".')
            label = None
            if len(tokens) == 2:
                try:
                    label = int(tokens[1])
                except ValueError:
                    raise AnnotationError(
                        path, lineno, 'label must be an integer, got '
                        f'"{tokens[1]}".') from None
            entries.append((tokens[0], None, label, (path, lineno)))
        return entries

    @staticmethod
    def _folder(file: str, where: Tuple[str, Optional[int]]) -> str:
        folder = file.replace('\\', '/').split('/')[0]
        if folder == file or '-' not in folder:
            raise AnnotationError(
                where[0], where[1], f'entry "{file}" is not '
                '"<wnid>-<breed>/<file>.jpg".')
        return folder

    def _needed_parts(self) -> Tuple[str, ...]:
        """Official lists the selected split draws from."""
        return {
            'test': ('test', ),
            'all': ('train', 'test')
        }.get(self.split, ('train', ))

    def _load_meta(self) -> Dict[str, Any]:
        folders = set()
        for part in ('train', 'test'):
            if part in self._needed_parts() or self._list_path(part):
                folders.update(
                    self._folder(f, where)
                    for f, _, _, where in self._read_list(part))
        folders = sorted(folders)
        self._label_of_folder = {f: i for i, f in enumerate(folders)}
        return dict(
            classes=[f.split('-', 1)[1] for f in folders],
            wnids=[f.split('-', 1)[0] for f in folders])

    def _load_samples(self) -> List[dict]:
        samples = []
        seen: Dict[str, Tuple[str, Optional[int]]] = {}
        for part in self._needed_parts():
            for file, ann, label, where in self._read_list(part):
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
                    first_path, first_line = seen[file]
                    first = f'"{first_path}"' + (f', line {first_line}'
                                                 if first_line else '')
                    raise AnnotationError(
                        where[0], where[1], f'"{file}" is listed twice (first '
                        f'in {first}); remove one entry.')
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
            '(annotation.tar) ' + self.HOW_TO_GET + ' Or set with_bbox=False.')

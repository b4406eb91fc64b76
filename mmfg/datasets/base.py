"""Common machinery of mmfg's fine-grained datasets.

:class:`FineGrainedDataset` implements once what every dataset needs on top
of MMPretrain's :class:`~mmpretrain.datasets.BaseDataset`:

- **splits** ``train`` / ``val`` / ``trainval`` / ``test`` / ``all``. When a
  dataset has no official validation set, ``val`` is a seeded, per-class
  stratified hold-out of the official training set (``val_ratio``,
  ``val_seed``) and ``train`` is the official training set minus it, so
  ``train``, ``val`` and ``test`` partition the data and ``trainval`` is the
  official training set;
- **class-disjoint splits** for metric learning (``class_split='first'`` /
  ``'second'``: the first ``num_first_classes`` classes or the rest, labels
  re-indexed from 0, ``metainfo['classes']`` restricted);
- **metainfo at construction** (class names and other dataset-level facts
  are read from the small meta files in ``__init__``), so ``lazy_init=True``
  gives a dataset whose ``metainfo`` is complete before any annotation of
  the images is parsed.

Subclasses implement :meth:`FineGrainedDataset._load_meta` and
:meth:`FineGrainedDataset._load_samples`.
"""
import os.path as osp
import pickle
import warnings
from abc import ABCMeta, abstractmethod
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmpretrain.datasets.base_dataset import BaseDataset

from mmfg.utils.errors import ConfigError
from .utils import check_dataset_kwargs, require_path, stratified_holdout

_SPLIT_MEMBERS = {
    'train': ('train', ),
    'val': ('val', ),
    'trainval': ('train', 'val'),
    'test': ('test', ),
    'all': None,
}


class FineGrainedDataset(BaseDataset, metaclass=ABCMeta):
    """Base class of mmfg's fine-grained datasets (not registered: abstract).

    Samples are dicts following ``docs/data_fields.md``. A subclass reads
    its meta files in :meth:`_load_meta` (called from ``__init__``) and its
    per-image annotations in :meth:`_load_samples` (called from
    ``full_init``, i.e. lazily when ``lazy_init=True``); this class selects
    the split and the class subset and re-indexes labels.

    Args:
        data_root (str): dataset root directory; must exist.
        split (str, optional): ``'train'``, ``'val'``, ``'trainval'``,
            ``'test'`` or ``'all'`` (a subclass may allow fewer, see
            ``SPLITS``). Defaults to None: ``'train'``, or ``'all'`` when
            ``class_split`` is set (the metric-learning protocol uses every
            image of the selected classes).
        class_split (str, optional): None, ``'first'`` (classes
            ``[0, num_first_classes)``) or ``'second'`` (the remaining
            classes). Labels are re-indexed to start at 0 and
            ``metainfo['classes']`` is restricted accordingly.
        num_first_classes (int, optional): size of the first class group.
            Defaults to half the classes (CUB 100, Cars 98).
        val_ratio (float): fraction of each class of the official training
            set held out as ``val`` when the dataset has no official
            validation set. 0 disables the hold-out (``train`` is then the
            official training set and ``val`` is unavailable).
            Defaults to 0.1.
        val_seed (int): seed of the hold-out. Defaults to 0.
        ann_file (str): annotation file relative to ``data_root`` (kept for
            MMEngine's bookkeeping). Defaults to ''.
        metainfo (dict, optional): overrides of the metainfo read from the
            files; ``classes`` may rename classes but not change their
            number.
        data_prefix (str | dict): image folder relative to ``data_root``.
        classes (str | Sequence[str], optional): MMPretrain-style class-name
            override (file path or names).
        **kwargs: other :class:`~mmpretrain.datasets.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ``lazy_init``, ``indices``,
            ``serialize_data``, ...). Any other key raises
            :class:`~mmfg.utils.errors.ConfigError` naming the dataset, the
            key and the closest valid one.
    """

    #: Dataset name used in messages.
    DATASET_NAME: str = 'dataset'
    #: How to obtain the dataset, appended to "file not found" messages.
    HOW_TO_GET: str = ''
    #: Splits this dataset accepts.
    SPLITS: Tuple[str, ...] = ('train', 'val', 'trainval', 'test', 'all')
    #: True when ``_load_samples`` marks an official validation set.
    OFFICIAL_VAL: bool = False
    #: Metainfo keys holding one entry per class (restricted by class_split).
    PER_CLASS_META_KEYS: Tuple[str, ...] = ('classes', 'class_ids')

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 class_split: Optional[str] = None,
                 num_first_classes: Optional[int] = None,
                 val_ratio: float = 0.1,
                 val_seed: int = 0,
                 ann_file: str = '',
                 metainfo: Optional[dict] = None,
                 data_prefix: Union[str, dict] = '',
                 classes: Union[str, Sequence[str], None] = None,
                 **kwargs):
        check_dataset_kwargs(self, kwargs, BaseDataset.__init__)
        if split is None:
            split = 'all' if class_split is not None else self.SPLITS[0]
        if split not in self.SPLITS:
            raise ConfigError(f'{type(self).__name__}: split must be one of '
                              f'{list(self.SPLITS)}, got {split!r}.')
        if class_split not in (None, 'first', 'second'):
            raise ConfigError(
                f'{type(self).__name__}: class_split must be None, "first" '
                f'or "second", got {class_split!r}.')
        if not 0 <= val_ratio < 1:
            raise ConfigError(
                f'{type(self).__name__}: val_ratio must be in [0, 1), got '
                f'{val_ratio}.')
        if split == 'val' and not self.OFFICIAL_VAL and val_ratio == 0:
            raise ConfigError(
                f'{type(self).__name__}: split="val" needs val_ratio > 0 '
                '(this dataset has no official validation set; the val split '
                'is held out of the official training set).')
        self.split = split
        self.class_split = class_split
        self.val_ratio = float(val_ratio)
        self.val_seed = int(val_seed)

        data_root = osp.abspath(osp.expanduser(str(data_root)))
        require_path(data_root, self.DATASET_NAME, self.HOW_TO_GET)
        self.data_root = data_root

        meta = dict(self._load_meta())
        num_all = len(meta['classes'])
        self._class_lo, self._class_hi = self._class_range(
            num_all, num_first_classes)
        for key in self.PER_CLASS_META_KEYS:
            if key in meta:
                meta[key] = tuple(meta[key][self._class_lo:self._class_hi])
        user_meta = self._compat_classes(metainfo, classes)
        if 'classes' in user_meta and \
                len(user_meta['classes']) != len(meta['classes']):
            raise ConfigError(
                f'{type(self).__name__}: {len(user_meta["classes"])} class '
                f'names were given (metainfo/classes) but the annotation '
                f'files define {len(meta["classes"])} classes for this '
                'selection. Give one name per class or drop the override.')
        meta.update(user_meta)

        super().__init__(
            ann_file=ann_file,
            metainfo=meta,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------------
    # hooks for subclasses
    # ------------------------------------------------------------------
    @abstractmethod
    def _load_meta(self) -> Dict[str, Any]:
        """Read dataset-level facts; called once from ``__init__``.

        Returns:
            dict: metainfo over *all* classes; must contain ``classes`` (names
            in label order). Keys in ``PER_CLASS_META_KEYS`` are restricted
            to the selected classes afterwards.
        """

    @abstractmethod
    def _load_samples(self) -> List[dict]:
        """Read the per-image annotations; called from ``full_init``.

        Returns:
            list[dict]: one dict per image following ``docs/data_fields.md``
            with ``gt_label`` over *all* classes (0-based) and the internal
            key ``_split`` in ``{'train', 'val', 'test'}`` (or None when the
            dataset is not partitioned, which only ``split='all'`` accepts).
        """

    # ------------------------------------------------------------------
    def _class_range(self, num_all: int,
                     num_first_classes: Optional[int]) -> Tuple[int, int]:
        """Original label range ``[lo, hi)`` kept by ``class_split``."""
        if self.class_split is None:
            return 0, num_all
        k = num_all // 2 if num_first_classes is None else num_first_classes
        if not 0 < k < num_all:
            raise ConfigError(
                f'{type(self).__name__}: num_first_classes must be in '
                f'[1, {num_all - 1}] for a dataset with {num_all} classes, '
                f'got {k}.')
        return (0, k) if self.class_split == 'first' else (k, num_all)

    def load_data_list(self) -> List[dict]:
        """Load the samples of the selected split and classes.

        Returns:
            list[dict]: samples following ``docs/data_fields.md``, labels
            re-indexed to the selected classes.
        """
        samples = self._load_samples()
        if not self.OFFICIAL_VAL and self.val_ratio > 0:
            train = [
                i for i, s in enumerate(samples) if s['_split'] == 'train'
            ]
            held = stratified_holdout([samples[i]['gt_label'] for i in train],
                                      self.val_ratio, self.val_seed)
            for i, is_val in zip(train, held):
                if is_val:
                    samples[i]['_split'] = 'val'
        members = _SPLIT_MEMBERS[self.split]
        data_list = []
        for sample in samples:
            part = sample.pop('_split')
            if members is not None and part not in members:
                continue
            if self.class_split is not None:
                if 'gt_label' not in sample:
                    raise ConfigError(
                        f'{type(self).__name__}: class_split needs labelled '
                        'images, but this annotation file has no labels.')
                label = sample['gt_label']
                if not self._class_lo <= label < self._class_hi:
                    continue
                sample['gt_label'] = label - self._class_lo
            data_list.append(sample)
        if not data_list:
            warnings.warn(f'{type(self).__name__} at "{self.data_root}": '
                          f'split={self.split!r}, class_split='
                          f'{self.class_split!r} selects no image.')
        return data_list

    def _serialize_data(self) -> Tuple[np.ndarray, np.ndarray]:
        """Pickle ``data_list`` into one shared byte buffer.

        Same result as MMEngine's implementation, without its full
        ``gc.collect()``: samples are plain dicts of numbers, strings and
        arrays with no reference cycles, so clearing the list frees them by
        reference counting, and a full collection costs about half a second
        per dataset once torch is imported.

        Returns:
            tuple[np.ndarray, np.ndarray]: uint8 bytes of all samples and the
            int64 ``(N,)`` cumulative end offset of each.
        """
        chunks = [
            np.frombuffer(pickle.dumps(x, protocol=4), dtype=np.uint8)
            for x in self.data_list
        ]
        data_address = np.cumsum(
            np.asarray([len(c) for c in chunks], dtype=np.int64))
        data_bytes = np.concatenate(chunks) if chunks else np.zeros(
            0, dtype=np.uint8)
        self.data_list.clear()
        return data_bytes, data_address

    def extra_repr(self) -> List[str]:
        """Extra lines of ``repr``."""
        body = [
            f'Root of dataset: \t{self.data_root}', f'Split: \t{self.split}'
        ]
        if self.class_split is not None:
            body.append(f'Class split: \t{self.class_split} (original labels '
                        f'{self._class_lo}..{self._class_hi - 1})')
        return body

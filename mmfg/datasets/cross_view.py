"""Cross-view datasets: a ground image, an overhead image and their meta.

On-disk format (``data_root``)::

    cross_view.txt   <id> <ground> <overhead> <lat> <lon> <date> <cls> <split>
    classes.txt      <class id> <class name>
    <ground>, <overhead>   image files, paths relative to data_root

``cross_view.txt`` has one whitespace-separated line per observation:

- ``id``: unique integer;
- ``ground`` / ``overhead``: paths of the ground-level photo and of the
  overhead (satellite) tile, relative to ``data_root``, without spaces;
- ``lat`` / ``lon``: degrees (latitude in ``[-90, 90]``, longitude in
  ``[-180, 180]``), both ``None`` when unknown;
- ``date``: ``YYYY-MM-DD`` or ``None``;
- ``class id``: 1-based, listed in ``classes.txt``;
- ``split``: ``train``, ``val`` or ``test``.

``classes.txt`` lists ``<class id> <name>`` for ids ``1..C`` (CUB's form).
A SynthBirds folder generated with ``gen_cfg=dict(..., with_overhead=True)``
is in this format (:class:`SynthBirdsCrossView` generates and reads it);
the Cross-View iNat-2021 birds of BirdSAT converts to it with one line per
observation (iNat image, its satellite tile, the observation's location and
date).
"""
import datetime
import os.path as osp
from typing import Any, Dict, List, Optional

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError
from .base import FineGrainedDataset
from .synthbirds import (_optional_float, _optional_str, _stored_config,
                         ensure_synthbirds)
from .utils import read_keyed

__all__ = ['CrossViewDataset', 'SynthBirdsCrossView']

_FIELDS = [('id', int), ('ground', str), ('overhead', str),
           ('latitude', _optional_float), ('longitude', _optional_float),
           ('date', _optional_str), ('class_id', int), ('split', str)]
_SPLITS = ('train', 'val', 'test')


@DATASETS.register_module()
class CrossViewDataset(FineGrainedDataset):
    """Paired ground / overhead images with location, date and label.

    The format is described in :mod:`mmfg.datasets.cross_view` and in
    ``configs/birdsat/README.md``. Samples carry ``img_path`` (ground),
    ``overhead_path``, ``gt_label`` (0-based), ``img_id`` and ``meta_info``
    (``latitude``, ``longitude``, ``date``; ``hour`` None), which
    :class:`~mmfg.datasets.transforms.SpatioTemporalMeta` encodes. Load the
    overhead image with ``KeyMapper`` around ``LoadImageFromFile``
    (``img_path → overhead_path``, ``img → overhead_img``) and pack both
    views with :class:`~mmfg.datasets.transforms.CollectViews` (see
    ``configs/_base_/datasets/synthbirds_cross_view.py``).

    Args:
        data_root (str): dataset folder.
        split (str, optional): ``'train'``, ``'val'``, ``'trainval'``,
            ``'test'`` or ``'all'``. When the file marks no ``val`` line,
            ``val`` is held out of ``train`` (``val_ratio``).
        ann_file (str): the index, relative to ``data_root``. Defaults to
            ``'cross_view.txt'``.
        check_files (bool): check that every listed image exists when the
            annotations are read. Defaults to True.
        **kwargs: :class:`~mmfg.datasets.base.FineGrainedDataset` arguments.

    Raises:
        DatasetNotFoundError: a missing ``data_root``, index, ``classes.txt``
            or image (``check_files``).
        AnnotationError: a malformed line (names the file, the line and the
            field).
    """

    DATASET_NAME = 'CrossView'
    HOW_TO_GET = ('Write cross_view.txt and classes.txt as documented in '
                  'mmfg/datasets/cross_view.py (configs/birdsat/README.md), '
                  'or use SynthBirdsCrossView to generate a synthetic one.')

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 ann_file: str = 'cross_view.txt',
                 check_files: bool = True,
                 **kwargs):
        self.index_file = ann_file
        self.check_files = check_files
        super().__init__(data_root=data_root, split=split, **kwargs)

    @property
    def OFFICIAL_VAL(self) -> bool:  # noqa: N802 (class constant upstream)
        return getattr(self, '_has_val', False)

    def _load_meta(self) -> Dict[str, Any]:
        path = osp.join(self.data_root, 'classes.txt')
        rows = read_keyed(
            path, [('class_id', int), ('name', str)],
            dataset=self.DATASET_NAME,
            how_to_get=self.HOW_TO_GET,
            rest=True)
        ids = sorted(rows)
        if not ids:
            raise AnnotationError(
                path, None, 'lists no class; write one "<class id> <name>" '
                'line per class (ids 1..C).')
        if ids != list(range(1, len(ids) + 1)):
            raise AnnotationError(
                path, None, 'class ids must be 1..C without gaps, got '
                f'{ids[:5]}{"..." if len(ids) > 5 else ""}. Renumber the '
                'classes.')
        self._num_classes = len(ids)
        self._rows = self._read_index()
        self._has_val = any(v[-1] == 'val' for _, v in self._rows.values())
        return dict(classes=[rows[i][1][0] for i in ids])

    def _read_index(self) -> dict:
        path = osp.join(self.data_root, self.index_file)
        rows = read_keyed(
            path,
            _FIELDS,
            dataset=self.DATASET_NAME,
            how_to_get=self.HOW_TO_GET)
        if not rows:
            raise AnnotationError(
                path, None, 'lists no observation; write one line per '
                'observation (see mmfg/datasets/cross_view.py).')
        for key, (lineno, values) in rows.items():
            self._check_row(path, lineno, values)
        return rows

    def _check_row(self, path: str, lineno: int, values: tuple) -> None:
        ground, overhead, lat, lon, date, class_id, split = values
        if (lat is None) != (lon is None):
            raise AnnotationError(
                path, lineno, 'latitude and longitude must both be numbers '
                'or both be None.')
        if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise AnnotationError(
                path, lineno, f'latitude {lat} / longitude {lon} out of '
                'range (latitude in [-90, 90], longitude in [-180, 180] '
                'degrees).')
        if date is not None:
            try:
                datetime.date.fromisoformat(date)
            except ValueError:
                raise AnnotationError(
                    path, lineno, f'date {date!r} is not YYYY-MM-DD; write '
                    'None for an unknown date.') from None
        if not 1 <= class_id <= self._num_classes:
            raise AnnotationError(
                path, lineno, f'class id {class_id} is not in classes.txt '
                f'(1..{self._num_classes}).')
        if split not in _SPLITS:
            raise AnnotationError(
                path, lineno, f'split must be one of {list(_SPLITS)}, got '
                f'{split!r}.')
        if self.check_files:
            for what, rel in (('ground', ground), ('overhead', overhead)):
                full = osp.join(self.data_root, rel)
                if not osp.isfile(full):
                    raise DatasetNotFoundError(
                        full, self.DATASET_NAME,
                        f'({what} image of {path}, line {lineno}.) Restore '
                        'the file, or remove the line.')

    def _load_samples(self) -> List[dict]:
        samples = []
        for key, (_, values) in self._rows.items():
            ground, overhead, lat, lon, date, class_id, split = values
            samples.append(
                dict(
                    img_path=osp.join(self.data_root, ground),
                    overhead_path=osp.join(self.data_root, overhead),
                    img_id=key,
                    gt_label=class_id - 1,
                    meta_info=dict(
                        latitude=lat, longitude=lon, date=date, hour=None),
                    _split=split))
        return samples


@DATASETS.register_module()
class SynthBirdsCrossView(CrossViewDataset):
    """SynthBirds with paired overhead views, generated on first use.

    Generates (see :func:`~mmfg.datasets.ensure_synthbirds`) SynthBirds with
    ``with_overhead=True`` added to ``gen_cfg`` and reads its
    ``cross_view.txt`` with :class:`CrossViewDataset`. The overhead view is
    a habitat texture drawn at the observation's location
    (:func:`mmfg.datasets.synth.render_overhead`).

    Args:
        data_root (str): dataset folder. Defaults to
            ``'data/synthbirds_cross_view'``.
        gen_cfg (dict, optional): generation arguments (``with_overhead``
            is forced True).
        generate (bool): generate when missing. Defaults to True.
        **kwargs: :class:`CrossViewDataset` arguments.
    """

    DATASET_NAME = 'SynthBirdsCrossView'

    def __init__(self,
                 data_root: str = 'data/synthbirds_cross_view',
                 gen_cfg: Optional[dict] = None,
                 generate: bool = True,
                 **kwargs):
        gen_cfg = dict(gen_cfg or {}, with_overhead=True)
        root = ensure_synthbirds(data_root, gen_cfg, generate)
        self.gen_cfg = _stored_config(root)['gen_cfg']
        super().__init__(data_root=root, **kwargs)

"""iNaturalist 2017 / 2018 / 2021 (and 2021 mini) with location and date."""
import datetime
import math
import os.path as osp
import re
import warnings
from typing import Any, Dict, List, Optional, Tuple

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError
from .base import FineGrainedDataset
from .utils import check_dataset_kwargs, read_json

_DATE = re.compile(r'^\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})'
                   r'(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?)?')


def parse_date(value: Any) -> Tuple[Optional[str], Optional[float]]:
    """Split an iNaturalist date string into a date and an hour of day.

    Args:
        value (Any): e.g. ``'2013-06-03 19:15:00+00:00'``,
            ``'2017-11-05T08:30:00'``, ``'2012-05-23'``, None.

    Returns:
        tuple[str | None, float | None]: ``'YYYY-MM-DD'`` (None when absent
        or not a valid calendar date) and the hour ``h + m / 60 + s / 3600``
        as written (None when the string has no time).
    """
    if not isinstance(value, str):
        return None, None
    match = _DATE.match(value)
    if match is None:
        return None, None
    year, month, day = (int(g) for g in match.groups()[:3])
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None, None
    date = f'{year:04d}-{month:02d}-{day:02d}'
    if match.group(4) is None:
        return date, None
    hour, minute = int(match.group(4)), int(match.group(5))
    second = float(match.group(6) or 0)
    if hour > 23 or minute > 59 or second >= 61:
        return date, None
    return date, hour + minute / 60 + second / 3600


def _coordinate(value: Any, bound: float) -> Optional[float]:
    """A finite coordinate within ``[-bound, bound]`` or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > bound:
        return None
    return number


@DATASETS.register_module()
class INaturalist(FineGrainedDataset):
    """iNaturalist competition datasets (2017, 2018, 2021, 2021 mini).

    Reads one COCO-like annotation file of the official release::

        {"images": [{"id", "file_name", ...}],           # 2021: latitude,
                                                         # longitude, date
         "annotations": [{"image_id", "category_id"}],   # absent for test
         "categories": [{"id", "name", ...}]}            # + taxonomy

    Categories are sorted by id and mapped to contiguous labels ``0..C-1``;
    ``metainfo['classes']`` are their names, ``metainfo['class_ids']`` their
    ids and ``metainfo['category_info']`` the full category entries (with
    ``supercategory``/``kingdom``/... as present). Each image of a labelled
    file must have exactly one annotation. Test files without
    ``annotations`` give samples without ``gt_label``.

    The split is the file (``train2018.json``, ``val2018.json``, ...), so the
    only ``split`` is ``'all'``; ``class_split`` works as for the other
    datasets.

    Meta: with ``with_meta``, every sample has ``meta_info`` with
    ``latitude``, ``longitude`` (float or None), ``date`` (``'YYYY-MM-DD'``
    or None) and ``hour`` (float or None), taken from the image entries
    (2021) or from ``locations_file`` (2018 releases ship
    ``train2018_locations.json``-style lists of ``{id, lat, lon, date}``;
    those values take precedence). Missing, null, NaN or out-of-range values
    become None; the number of unreadable dates/coordinates is reported
    once as a warning.

    Keys of ``get_data_info``: ``img_path``, ``img_id``, ``gt_label``
    (labelled files), ``meta_info`` (with ``with_meta``).

    Args:
        data_root (str): root that ``file_name`` entries are relative to
            (with ``data_prefix``).
        ann_file (str): annotation JSON relative to ``data_root`` (or
            absolute), e.g. ``'train2018.json'``.
        data_prefix (str | dict): prefix of ``file_name``. Defaults to ''.
        locations_file (str, optional): location/date JSON relative to
            ``data_root`` (or absolute). Defaults to None.
        with_meta (bool): add ``meta_info``. Defaults to True.
        class_split (str, optional): None, ``'first'`` or ``'second'``.
        **kwargs: :class:`~mmfg.datasets.base.FineGrainedDataset` arguments
            except ``split``/``val_ratio``.
    """

    DATASET_NAME = 'iNaturalist'
    HOW_TO_GET = ('Download the images and annotation JSON files of the '
                  'competition year from https://github.com/visipedia/'
                  'inat_comp and extract them into data_root.')
    SPLITS = ('all', )
    FIXED_KWARGS = dict.fromkeys(
        ('split', 'val_ratio', 'val_seed'),
        "the split is the annotation file (e.g. ann_file='val2018.json'); "
        "the only split is 'all'.")
    PER_CLASS_META_KEYS = ('classes', 'class_ids', 'category_info')

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 data_prefix: Any = '',
                 locations_file: Optional[str] = None,
                 with_meta: bool = True,
                 class_split: Optional[str] = None,
                 **kwargs):
        if kwargs.get('split', 'all') == 'all':
            kwargs.pop('split', None)
        check_dataset_kwargs(self, kwargs, FineGrainedDataset.__init__)
        self.locations_file = locations_file
        self.with_meta = with_meta
        self._ann_path = osp.join(
            osp.abspath(osp.expanduser(str(data_root))), ann_file)
        self._cached: Optional[dict] = None
        self._lazy = bool(kwargs.get('lazy_init', False))
        super().__init__(
            data_root=data_root,
            split='all',
            class_split=class_split,
            val_ratio=0,
            ann_file=ann_file,
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------------
    def _read(self) -> dict:
        doc = read_json(
            self._ann_path,
            dataset=self.DATASET_NAME,
            how_to_get=self.HOW_TO_GET)
        if not isinstance(doc, dict):
            raise AnnotationError(
                self._ann_path, None, 'must be a JSON object with "images", '
                '"annotations" and "categories".')
        for key in ('images', 'categories'):
            if not isinstance(doc.get(key), list):
                raise AnnotationError(
                    self._ann_path, None, f'has no "{key}" list; is this an '
                    'iNaturalist annotation file?')
        if not doc['images']:
            raise AnnotationError(
                self._ann_path, None, '"images" is empty; the file is '
                'truncated or not the one of the release. Download it again.')
        return doc

    def _load_meta(self) -> Dict[str, Any]:
        doc = self._read()
        categories = []
        for k, cat in enumerate(doc['categories']):
            if not isinstance(cat, dict) or not isinstance(
                    cat.get('id'), int) or 'name' not in cat:
                raise AnnotationError(
                    self._ann_path, None, f'categories[{k}] must be an object '
                    f'with an integer "id" and a "name", got {cat!r}.')
            categories.append(cat)
        if not categories:
            raise AnnotationError(
                self._ann_path, None, '"categories" is empty; is this an '
                'iNaturalist annotation file?')
        categories.sort(key=lambda c: c['id'])
        ids = [c['id'] for c in categories]
        for a, b in zip(ids, ids[1:]):
            if a == b:
                raise AnnotationError(self._ann_path, None,
                                      f'duplicate category id {a}.')
        self._label_of_category = {cid: i for i, cid in enumerate(ids)}
        # Keep the parsed file for full_init unless it is deferred.
        self._cached = None if self._lazy else doc
        return dict(
            classes=[str(c['name']) for c in categories],
            class_ids=ids,
            category_info=categories)

    def _load_samples(self) -> List[dict]:
        doc = self._cached if self._cached is not None else self._read()
        self._cached = None
        path = self._ann_path
        annotations = doc.get('annotations') or []
        labelled = len(annotations) > 0
        label_of_image: Dict[Any, int] = {}
        for k, ann in enumerate(annotations):
            if not isinstance(ann, dict) or 'image_id' not in ann or \
                    'category_id' not in ann:
                raise AnnotationError(
                    path, None, f'annotations[{k}] needs "image_id" and '
                    f'"category_id", got {ann!r}.')
            image_id, category = ann['image_id'], ann['category_id']
            if category not in self._label_of_category:
                raise AnnotationError(
                    path, None, f'annotations[{k}]: category_id '
                    f'{category!r} is not an id of "categories".')
            if image_id in label_of_image:
                raise AnnotationError(
                    path, None, f'annotations[{k}]: image {image_id} has a '
                    'second annotation; one label per image is expected.')
            label_of_image[image_id] = self._label_of_category[category]

        locations = self._read_locations() if self.with_meta else {}
        bad_meta = 0
        samples = []
        seen = set()
        for k, img in enumerate(doc['images']):
            if not isinstance(img, dict) or 'id' not in img or \
                    not isinstance(img.get('file_name'), str):
                raise AnnotationError(
                    path, None, f'images[{k}] needs "id" and "file_name", '
                    f'got {img!r}.')
            image_id = img['id']
            if image_id in seen:
                raise AnnotationError(
                    path, None, f'images[{k}]: duplicate id {image_id}.')
            seen.add(image_id)
            sample = dict(
                img_path=osp.join(self.img_prefix, img['file_name']),
                img_id=image_id)
            if labelled:
                if image_id not in label_of_image:
                    raise AnnotationError(
                        path, None, f'images[{k}] (id {image_id}) has no '
                        'entry in "annotations"; every image of a labelled '
                        'file needs one.')
                sample['gt_label'] = label_of_image[image_id]
            if self.with_meta:
                meta, bad = self._meta(img, locations.get(image_id))
                sample['meta_info'] = meta
                bad_meta += bad
            sample['_split'] = None
            samples.append(sample)
        unknown = set(label_of_image) - seen
        if unknown:
            raise AnnotationError(
                path, None, f'{len(unknown)} annotations refer to images not '
                f'in "images", e.g. image_id {sorted(unknown)[0]!r}.')
        if locations and not seen & set(locations):
            raise AnnotationError(
                self._locations_path(), None, 'none of its ids is an image of '
                f'"{path}"; is it the locations file of another split?')
        if bad_meta:
            warnings.warn(f'{path}: {bad_meta} unreadable date/coordinate '
                          'values were set to None.')
        return samples

    # ------------------------------------------------------------------
    def _locations_path(self) -> str:
        return osp.join(self.data_root, self.locations_file)

    def _read_locations(self) -> Dict[Any, dict]:
        if self.locations_file is None:
            return {}
        path = self._locations_path()
        doc = read_json(
            path,
            dataset=self.DATASET_NAME,
            how_to_get='The location files of iNat 2018 are a separate '
            'download (inat2018_locations.zip) from '
            'https://github.com/visipedia/inat_comp.')
        if not isinstance(doc, list):
            raise AnnotationError(
                path, None, 'must be a JSON list of {"id", "lat", "lon", '
                '"date"} objects.')
        locations = {}
        for k, entry in enumerate(doc):
            if not isinstance(entry, dict) or 'id' not in entry:
                raise AnnotationError(
                    path, None, f'entry [{k}] must be an object with an '
                    f'"id", got {entry!r}.')
            if entry['id'] in locations:
                raise AnnotationError(
                    path, None, f'entry [{k}]: duplicate id '
                    f'{entry["id"]}.')
            locations[entry['id']] = entry
        return locations

    @staticmethod
    def _meta(img: dict, location: Optional[dict]) -> Tuple[dict, int]:
        """``meta_info`` of one image and the number of unreadable values."""
        raw = dict(
            latitude=img.get('latitude'),
            longitude=img.get('longitude'),
            date=img.get('date'))
        if location is not None:
            raw = dict(
                latitude=location.get('lat', location.get('latitude')),
                longitude=location.get('lon', location.get('longitude')),
                date=location.get('date'))
        for key, value in raw.items():  # NaN is how some files say null
            if isinstance(value, float) and math.isnan(value):
                raw[key] = None
        lat = _coordinate(raw['latitude'], 90.0)
        lon = _coordinate(raw['longitude'], 180.0)
        date, hour = parse_date(raw['date'])
        bad = sum(value is not None and parsed is None
                  for value, parsed in ((raw['latitude'], lat),
                                        (raw['longitude'], lon), (raw['date'],
                                                                  date)))
        return dict(latitude=lat, longitude=lon, date=date, hour=hour), bad

"""Meta-information encoders: raw ``meta_info`` → vectors in ``meta``.

Each transform adds an entry to the ``results['meta']`` dict (created when
absent), which :class:`~mmfg.datasets.transforms.PackFGInputs` packs into
the ``meta`` data field as a dict of float tensors and
:class:`~mmfg.models.classifiers.MetaImageClassifier` hands to the backbone.
CUB attributes need no transform: the ``attributes`` field packed by
``PackFGInputs`` is read directly (``meta_keys=['attributes']``).
"""
import datetime
import math
import os.path as osp
from typing import Any, Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmfg.registry import TRANSFORMS
from mmfg.utils.errors import ConfigError, DatasetNotFoundError

__all__ = [
    'SpatioTemporalMeta', 'TextEmbeddingMeta', 'encode_spatiotemporal',
    'load_text_embedding'
]


def encode_spatiotemporal(meta_info: Optional[dict],
                          encoding: str = 'metaformer'
                          ) -> Dict[str, np.ndarray]:
    """Encode date/hour and location (MetaFormer's or BirdSAT's encoding).

    ``encoding='metaformer'`` (default):

    - ``time`` (4,): ``[sin, cos](2π·month/12)`` then
      ``[sin, cos](2π·hour/24)``; each pair is zeros when its value is
      missing (no date / no hour).
    - ``location`` (3,): the point on the unit sphere
      ``[cos φ cos λ, cos φ sin λ, sin φ]`` (φ latitude, λ longitude, in
      degrees in the input); zeros when either is missing.

    ``encoding='birdsat'`` (BirdSAT, Sastry et al. 2024):

    - ``time`` (4,): ``[sin, cos](2π·month/12)`` then
      ``[sin, cos](2π·day/31)``; zeros without a date.
    - ``location`` (4,): ``[sin, cos](π·φ/90)`` then
      ``[sin, cos](π·λ/180)``; zeros when either is missing.

    Args:
        meta_info (dict, optional): ``latitude``, ``longitude`` (float or
            None), ``date`` (``'YYYY-MM-DD'`` or None), ``hour`` (float or
            None), as the iNaturalist and SynthBirds datasets give it.
        encoding (str): ``'metaformer'`` or ``'birdsat'``.

    Returns:
        dict[str, np.ndarray]: float32 ``time`` (4,) and ``location`` (3,)
        (``(4,)`` with ``'birdsat'``).

    Raises:
        ValueError: a date that is not ``'YYYY-MM-DD'``, or an unknown
            ``encoding``.
    """
    if encoding not in ('metaformer', 'birdsat'):
        raise ValueError('encode_spatiotemporal: encoding must be '
                         f'"metaformer" or "birdsat", got {encoding!r}.')
    info = meta_info or {}
    if encoding == 'birdsat':
        return _encode_birdsat(info)
    time = np.zeros(4, np.float32)
    date = info.get('date')
    if date is not None:
        try:
            month = datetime.date.fromisoformat(str(date)[:10]).month
        except ValueError:
            raise ValueError(f'SpatioTemporalMeta: date {date!r} is not '
                             "'YYYY-MM-DD'; use None for unknown dates.")
        angle = 2 * math.pi * month / 12
        time[:2] = (math.sin(angle), math.cos(angle))
    hour = info.get('hour')
    if hour is not None:
        angle = 2 * math.pi * float(hour) / 24
        time[2:] = (math.sin(angle), math.cos(angle))
    location = np.zeros(3, np.float32)
    lat, lon = info.get('latitude'), info.get('longitude')
    if lat is not None and lon is not None:
        phi, lam = math.radians(float(lat)), math.radians(float(lon))
        location[:] = (math.cos(phi) * math.cos(lam),
                       math.cos(phi) * math.sin(lam), math.sin(phi))
    return dict(time=time, location=location)


def _encode_birdsat(info: dict) -> Dict[str, np.ndarray]:
    time = np.zeros(4, np.float32)
    date = info.get('date')
    if date is not None:
        try:
            day = datetime.date.fromisoformat(str(date)[:10])
        except ValueError:
            raise ValueError(f'SpatioTemporalMeta: date {date!r} is not '
                             "'YYYY-MM-DD'; use None for unknown dates.")
        a, b = 2 * math.pi * day.month / 12, 2 * math.pi * day.day / 31
        time[:] = (math.sin(a), math.cos(a), math.sin(b), math.cos(b))
    location = np.zeros(4, np.float32)
    lat, lon = info.get('latitude'), info.get('longitude')
    if lat is not None and lon is not None:
        a, b = math.pi * float(lat) / 90, math.pi * float(lon) / 180
        location[:] = (math.sin(a), math.cos(a), math.sin(b), math.cos(b))
    return dict(time=time, location=location)


def _add_meta(results: dict, values: Dict[str, np.ndarray]) -> dict:
    meta = results.get('meta')
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise TypeError('meta transforms: results["meta"] must be a dict of '
                        f'arrays, got {type(meta).__name__}.')
    else:
        meta = dict(meta)
    meta.update(values)
    results['meta'] = meta
    return results


@TRANSFORMS.register_module()
class SpatioTemporalMeta(BaseTransform):
    """Encode ``meta_info`` (location, date, hour) into ``meta``.

    Adds ``meta[time_key]`` (4,) and ``meta[location_key]`` (3,) as in
    :func:`encode_spatiotemporal` (missing values → zeros). A sample without
    ``meta_info`` gets zeros (the dataset needs ``with_meta=True``).

    Args:
        time_key (str): name of the time vector. Defaults to 'time'.
        location_key (str): name of the location vector. Defaults to
            'location'.
        encoding (str): ``'metaformer'`` (location (3,)) or ``'birdsat'``
            (location (4,)); see :func:`encode_spatiotemporal`. Defaults
            to 'metaformer'.
    """

    def __init__(self,
                 time_key: str = 'time',
                 location_key: str = 'location',
                 encoding: str = 'metaformer') -> None:
        if encoding not in ('metaformer', 'birdsat'):
            raise ConfigError('SpatioTemporalMeta: encoding must be '
                              f'"metaformer" or "birdsat", got {encoding!r}.')
        self.time_key = time_key
        self.location_key = location_key
        self.encoding = encoding

    def transform(self, results: dict) -> dict:
        """Add the encoded vectors to ``results['meta']``."""
        enc = encode_spatiotemporal(results.get('meta_info'), self.encoding)
        return _add_meta(results, {
            self.time_key: enc['time'],
            self.location_key: enc['location']
        })

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(time_key={self.time_key!r}, '
                f'location_key={self.location_key!r}, '
                f'encoding={self.encoding!r})')


def load_text_embedding(path: str) -> np.ndarray:
    """Read one pre-computed text embedding file.

    Format (see ``docs/data_fields.md``): a ``.npy`` array, float ``(D,)``
    (one sentence vector) or ``(L, D)`` (``L`` token/sentence vectors).

    Args:
        path (str): the ``.npy`` file.

    Returns:
        np.ndarray: float32 ``(L, D)`` (a ``(D,)`` file gives ``L = 1``).

    Raises:
        DatasetNotFoundError: the file is missing.
        ValueError: the file is not a 1-D/2-D numeric array.
    """
    if not osp.isfile(path):
        raise DatasetNotFoundError(
            path, 'text embeddings',
            'Pre-compute one .npy per image (see docs/data_fields.md, '
            '"Text embeddings").')
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f'TextEmbeddingMeta: cannot read "{path}" as a '
                         f'.npy array ({e}).') from None
    if array.ndim not in (1, 2) or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f'TextEmbeddingMeta: "{path}" must hold a numeric '
                         f'(D,) or (L, D) array, got {array.dtype} '
                         f'{array.shape}.')
    return np.atleast_2d(array).astype(np.float32)


@TRANSFORMS.register_module()
class TextEmbeddingMeta(BaseTransform):
    """Load a pre-computed text embedding of the image into ``meta``.

    The file of an image is ``embed_dir/<image path relative to img_dir
    with the extension .npy>`` (e.g. CUB ``images/001.X/x_1.jpg`` →
    ``embed_dir/001.X/x_1.npy``). Its ``(L, D)`` rows are padded with zero
    rows or truncated to ``num_tokens`` (so batches stack), or averaged to
    ``(D,)`` with ``num_tokens=None``. No model is run: compute the
    embeddings once offline (e.g. BERT over the CUB text descriptions).

    Args:
        embed_dir (str): folder of the ``.npy`` files.
        img_dir (str): folder the image paths are relative to.
        num_tokens (int, optional): fixed number of tokens; None averages.
            Defaults to None.
        key (str): meta name. Defaults to 'text'.

    Raises:
        ValueError: an image outside ``img_dir`` (the message names both).
    """

    def __init__(self,
                 embed_dir: str,
                 img_dir: str,
                 num_tokens: Optional[int] = None,
                 key: str = 'text') -> None:
        if num_tokens is not None and num_tokens < 1:
            raise ConfigError('TextEmbeddingMeta: num_tokens must be >= 1 or '
                              f'None, got {num_tokens}.')
        self.embed_dir = embed_dir
        self.img_dir = img_dir
        self.num_tokens = num_tokens
        self.key = key

    def embedding_path(self, img_path: str) -> str:
        """The ``.npy`` file of ``img_path``."""
        rel = osp.relpath(osp.abspath(img_path), osp.abspath(self.img_dir))
        if rel.startswith(osp.pardir):
            raise ValueError(f'TextEmbeddingMeta: image "{img_path}" is not '
                             f'inside img_dir "{self.img_dir}"; set img_dir '
                             'to the images folder of the dataset.')
        return osp.join(self.embed_dir, osp.splitext(rel)[0] + '.npy')

    def transform(self, results: dict) -> dict:
        """Add ``meta[key]`` ``(num_tokens, D)`` or ``(D,)``."""
        emb = load_text_embedding(self.embedding_path(results['img_path']))
        if self.num_tokens is None:
            value: Any = emb.mean(0)
        else:
            value = np.zeros((self.num_tokens, emb.shape[1]), np.float32)
            n = min(self.num_tokens, emb.shape[0])
            value[:n] = emb[:n]
        return _add_meta(results, {self.key: value})

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(embed_dir={self.embed_dir!r}, '
                f'img_dir={self.img_dir!r}, num_tokens={self.num_tokens}, '
                f'key={self.key!r})')

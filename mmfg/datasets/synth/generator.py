"""Write SynthBirds in the exact CUB-200-2011 layout.

Layout written into ``out_dir``::

    images/<NNN.Class_Name>/<Class_Name>_<id>.jpg
    images.txt                      <id> <relpath>
    classes.txt                     <class id> <NNN.Class_Name>
    image_class_labels.txt          <id> <class id>        (1-based)
    train_test_split.txt            <id> <1 = train | 0 = test>
    bounding_boxes.txt              <id> <x> <y> <w> <h>
    parts/parts.txt                 the 15 CUB part names
    parts/part_locs.txt             <id> <part id> <x> <y> <visible>
    attributes/attributes.txt       <attr id> has_<part>_<prop>::<value>
    attributes/certainties.txt      CUB's 4 certainty names
    attributes/image_attribute_labels.txt
                                    <id> <attr id> <present> <certainty> <time>
    attributes/class_attribute_labels_continuous.txt
                                    C rows x A percentages
    segmentations/<NNN.Class_Name>/<Class_Name>_<id>.png   (with_masks)
    image_meta.txt                  <id> <lat> <lon> <YYYY-MM-DD> <hour>
                                    (with_meta; ``None`` where missing)
    overhead/<NNN.Class_Name>/<Class_Name>_<id>.jpg    (with_overhead)
    cross_view.txt                  (with_overhead) the cross-view index
                                    read by ``CrossViewDataset``
    README.txt                      what this is, generator version, args
    synthbirds.json                 the generation arguments (``gen_cfg``)

Coordinates (boxes and parts) are continuous pixel coordinates: pixel
``i`` spans ``[i, i + 1)`` (see ``mmfg.datasets.transforms.geometry``); the
box ``x y w h`` is the tight box of the mask, ``(x, y)`` being the top-left
corner of its first pixel. Parts hidden by the body (the far eye and far
wing) or by a foreground occluder are written ``0.0 0.0 0``.

Everything is a pure function of the arguments (except ``progress``):
image ``id`` is drawn from ``np.random.default_rng([seed, id])``, JPEGs use
fixed encoder settings, so the same arguments give byte-identical files.
"""
import itertools
import json
import os
import os.path as osp
import shutil
import tempfile
import uuid
from typing import Any, Dict, Iterable, List, Optional, Tuple

import cv2
import numpy as np

from .overhead import render_overhead
from .render import attributes_from_code, render_bird, sample_scene
from .spec import (CERTAINTY_NAMES, PART_ATTRIBUTES, PART_NAMES,
                   attribute_vocabulary, class_codes, class_name,
                   get_difficulty)

__all__ = [
    'generate_synthbirds', 'GENERATOR_VERSION', 'CONFIG_FILE', 'META_FILE',
    'synthbirds_gen_cfg', 'read_synthbirds_config', 'sample_meta',
    'class_meta_centre', 'format_meta_line', 'true_location',
    'CROSS_VIEW_FILE'
]

#: Bumped whenever the same arguments would produce different files.
GENERATOR_VERSION = '1.0.0'
#: Name of the file recording the generation arguments.
CONFIG_FILE = 'synthbirds.json'

_JPEG_PARAMS = [
    cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_OPTIMIZE, 0,
    cv2.IMWRITE_JPEG_PROGRESSIVE, 0, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
    cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
]
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 6]
#: Per-image meta file written with ``with_meta``.
META_FILE = 'image_meta.txt'
#: Cross-view index written with ``with_overhead`` (format: see
#: :class:`mmfg.datasets.CrossViewDataset`).
CROSS_VIEW_FILE = 'cross_view.txt'
#: Spread of the meta around the class centre: latitude/longitude (degrees)
#: and month; share of images whose location / date is missing.
META_LATLON_STD = 12.0
META_MONTH_STD = 1.0
META_MISSING = 0.1


def class_meta_centre(seed: int, c: int) -> Tuple[float, float, float]:
    """Home latitude, longitude (degrees) and peak month of class ``c``.

    Drawn from ``np.random.default_rng([seed, 2, c])``: latitude in
    ``[-60, 60]``, longitude in ``[-180, 180)``, month in ``[1, 13)``.
    """
    rng = np.random.default_rng([seed, 2, c])
    return (float(rng.uniform(-60, 60)), float(rng.uniform(-180, 180)),
            float(rng.uniform(1, 13)))


def _draw_meta(seed: int, img_id: int, c: int) -> tuple:
    """The meta of one image before missing values are removed."""
    lat0, lon0, month0 = class_meta_centre(seed, c)
    rng = np.random.default_rng([seed, img_id, 2])
    d_lat, d_lon, d_month, day, hour, miss_loc, miss_date = (
        rng.normal(0, META_LATLON_STD), rng.normal(0, META_LATLON_STD),
        rng.normal(0, META_MONTH_STD), rng.integers(1, 29),
        rng.uniform(0, 24), rng.random(), rng.random())
    lat = float(np.clip(lat0 + d_lat, -89, 89))
    lon = float((lon0 + d_lon + 180) % 360 - 180)
    month = int(np.floor(month0 - 1 + d_month)) % 12 + 1
    date = f'2020-{month:02d}-{int(day):02d}'
    return lat, lon, date, hour, miss_loc, miss_date


def true_location(seed: int, img_id: int, c: int) -> Tuple[float, float]:
    """Where image ``img_id`` of class ``c`` was taken, even when
    :func:`sample_meta` reports its location missing (the overhead view is
    drawn there)."""
    lat, lon = _draw_meta(seed, img_id, c)[:2]
    return lat, lon


def sample_meta(seed: int, img_id: int,
                c: int) -> Tuple[Optional[float], Optional[float],
                                 Optional[str], Optional[float]]:
    """Observation meta of one image of class ``c``.

    Location: the class centre plus Gaussian noise (``META_LATLON_STD``
    degrees; latitude clipped to ``[-89, 89]``, longitude wrapped); date:
    a day of the month ``peak + N(0, META_MONTH_STD)`` (wrapped) in year
    2020; hour: uniform, uninformative. Each of location and date is
    missing (None) with probability ``META_MISSING``. Drawn from
    ``np.random.default_rng([seed, img_id, 2])``, a stream of its own, so
    the images are the same with and without meta.

    Returns:
        tuple: ``(latitude, longitude, 'YYYY-MM-DD', hour)``, None where
        missing.
    """
    lat, lon, date, hour, miss_loc, miss_date = _draw_meta(seed, img_id, c)
    if miss_loc < META_MISSING:
        lat = lon = None
    if miss_date < META_MISSING:
        date, hour = None, None
    return lat, lon, date, (None if hour is None else float(hour))


def format_meta_line(img_id: int, lat: Optional[float],
                     lon: Optional[float], date: Optional[str],
                     hour: Optional[float]) -> str:
    """One ``image_meta.txt`` line (``None`` for missing values)."""
    def num(v: Optional[float]) -> str:
        return 'None' if v is None else f'{v:.4f}'

    return f'{img_id} {num(lat)} {num(lon)} {date or "None"} {num(hour)}'


def synthbirds_gen_cfg(num_classes: int = 10,
                       images_per_class: int = 60,
                       image_size: int = 128,
                       seed: int = 0,
                       difficulty: str = 'easy',
                       train_fraction: float = 0.5,
                       with_masks: bool = True,
                       with_meta: bool = False,
                       with_overhead: bool = False) -> Dict[str, Any]:
    """The arguments that decide the generated files, normalised for JSON.

    ``progress`` is deliberately absent: it does not change the data.
    ``with_meta`` and ``with_overhead`` appear only when True, so folders
    generated before they existed keep the same ``gen_cfg``.

    Args:
        num_classes (int): see :func:`generate_synthbirds`.
        images_per_class (int): see :func:`generate_synthbirds`.
        image_size (int): see :func:`generate_synthbirds`.
        seed (int): see :func:`generate_synthbirds`.
        difficulty (str): see :func:`generate_synthbirds`.
        train_fraction (float): see :func:`generate_synthbirds`.
        with_masks (bool): see :func:`generate_synthbirds`.
        with_meta (bool): see :func:`generate_synthbirds`.
        with_overhead (bool): see :func:`generate_synthbirds`.

    Returns:
        dict: ``{argument: value}`` as stored under ``'gen_cfg'`` in
        ``synthbirds.json``.
    """
    cfg = dict(
        num_classes=int(num_classes),
        images_per_class=int(images_per_class),
        image_size=int(image_size),
        seed=int(seed),
        difficulty=str(difficulty),
        train_fraction=float(train_fraction),
        with_masks=bool(with_masks))
    if with_meta:
        cfg['with_meta'] = True
    if with_overhead:
        cfg['with_overhead'] = True
    return cfg


def read_synthbirds_config(out_dir: str) -> Optional[Dict[str, Any]]:
    """Read ``synthbirds.json`` of a generated folder.

    Args:
        out_dir (str): dataset folder.

    Returns:
        dict | None: the file's content (keys ``gen_cfg``,
        ``generator_version``, ...), or None when the folder has no
        readable ``synthbirds.json``.
    """
    path = osp.join(out_dir, CONFIG_FILE)
    try:
        with open(path, encoding='utf-8') as f:
            content = json.load(f)
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _check_args(num_classes: int, images_per_class: int, image_size: int,
                seed: int, difficulty: str, train_fraction: float) -> None:
    get_difficulty(difficulty)  # raises on an unknown name
    minimum = dict(num_classes=1, images_per_class=1, image_size=32, seed=0)
    given = dict(
        num_classes=num_classes,
        images_per_class=images_per_class,
        image_size=image_size,
        seed=seed)
    for name, value in given.items():
        low = minimum[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f'generate_synthbirds: {name} must be an int, '
                            f'got {type(value).__name__} {value!r}.')
        if value < low:
            raise ValueError(f'generate_synthbirds: {name} must be >= {low}, '
                             f'got {value}.')
    if not 0.0 <= float(train_fraction) <= 1.0:
        raise ValueError('generate_synthbirds: train_fraction must be in '
                         f'[0, 1], got {train_fraction}.')
    class_codes(num_classes, difficulty)  # raises if too many classes


def _check_out_dir(out_dir: str) -> None:
    """Refuse to overwrite a folder that is not ours (losing nothing)."""
    if not osp.exists(out_dir):
        return
    if not osp.isdir(out_dir):
        raise FileExistsError(
            f'generate_synthbirds: "{out_dir}" exists and is not a folder. '
            'Choose another out_dir.')
    entries = os.listdir(out_dir)
    if not entries or read_synthbirds_config(out_dir) is not None:
        return
    raise FileExistsError(
        f'generate_synthbirds: "{out_dir}" is not empty and holds no '
        f'{CONFIG_FILE}, so it is not a SynthBirds folder; refusing to '
        f'write into it (it contains e.g. {sorted(entries)[:3]}). Choose an '
        'empty or new out_dir.')


def _split(num_classes: int, images_per_class: int, seed: int,
           train_fraction: float) -> np.ndarray:
    """Per-image ``is_train`` flags, stratified per class."""
    n_train = int(round(train_fraction * images_per_class))
    if 0.0 < train_fraction < 1.0 and images_per_class >= 2:
        n_train = min(max(n_train, 1), images_per_class - 1)
    flags = np.zeros((num_classes, images_per_class), np.int64)
    for c in range(num_classes):
        order = np.random.default_rng([seed, 0,
                                       c + 1]).permutation(images_per_class)
        flags[c, order[:n_train]] = 1
    return flags.reshape(-1)


def _write_lines(path: str, lines: Iterable[str]) -> None:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        for line in lines:
            f.write(line)
            f.write('\n')


def _write_bytes(path: str, data: np.ndarray) -> None:
    with open(path, 'wb') as f:
        f.write(data.tobytes())


def _readme(args: Dict[str, Any], names: List[str],
            definitions: List[Dict[str, str]], n_train: int,
            n_test: int) -> List[str]:
    cfg = get_difficulty(args['difficulty'])
    lines = [
        'SynthBirds: a procedural fine-grained bird dataset in the exact',
        'CUB-200-2011 layout, generated by mmfg (mmfg.datasets.synth).',
        '',
        f'generator version: {GENERATOR_VERSION}',
        'arguments: ' + ', '.join(f'{k}={v!r}' for k, v in args.items()),
        f'difficulty: {cfg.name}: {cfg.description}',
        f'images: {n_train + n_test} ({n_train} train, {n_test} test), '
        f'{args["image_size"]}x{args["image_size"]} px JPEG (quality 95)',
        '',
        'Every bird shares one body plan and one distribution of body',
        'colour, shape, pose and background. A class is a combination of',
        'part attributes (crest colour, wing bars, beak shape, tail mark,',
        'eye ring, breast pattern); the class is visible only in those',
        'parts. Classes differ pairwise in at least '
        f'{cfg.min_class_distance} attribute(s).',
        '',
        'Coordinates are continuous pixels (pixel i spans [i, i+1)). A bird',
        'facing right shows its right side: its right eye/wing are',
        'visible and its left eye/wing are written "0.0 0.0 0".',
        'attributes/image_attribute_labels.txt: "present" is the ground',
        'truth; certainty is 4 (definitely) when the part is visible and 1',
        '(not visible) when it is occluded.',
        '',
        'classes:',
    ]
    active = cfg.active_attributes
    for i, (name, d) in enumerate(zip(names, definitions)):
        desc = ', '.join(f'{k}={d[k]}' for k in active)
        lines.append(f'  {i + 1:3d} {name}: {desc}')
    return lines


def _install(tmp: str, out_dir: str) -> None:
    """Move the finished ``tmp`` folder to ``out_dir``.

    Replaces ``out_dir`` when it is empty or an earlier SynthBirds folder.
    """
    if osp.isdir(out_dir) and not os.listdir(out_dir):
        os.rmdir(out_dir)
    if not osp.exists(out_dir):
        os.rename(tmp, out_dir)
        return
    _check_out_dir(out_dir)  # still ours?
    trash = f'{out_dir}.old-{uuid.uuid4().hex[:8]}'
    os.rename(out_dir, trash)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        os.rename(trash, out_dir)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _iterate(n: int, progress: bool) -> Iterable[int]:
    if not progress:
        return range(n)
    from mmengine.utils import track_iter_progress
    return track_iter_progress(list(range(n)))


def generate_synthbirds(out_dir: str,
                        num_classes: int = 10,
                        images_per_class: int = 60,
                        image_size: int = 128,
                        seed: int = 0,
                        difficulty: str = 'easy',
                        train_fraction: float = 0.5,
                        with_masks: bool = True,
                        with_meta: bool = False,
                        progress: bool = True,
                        with_overhead: bool = False) -> str:
    """Generate SynthBirds into ``out_dir`` in the CUB-200-2011 layout.

    The files are written to a temporary sibling folder and moved into
    place when complete, so ``out_dir`` is never left half-written. An
    existing ``out_dir`` must be empty or an earlier SynthBirds folder
    (it is replaced); anything else is refused with ``FileExistsError``.

    Args:
        out_dir (str): destination folder.
        num_classes (int): number of classes (up to
            ``DIFFICULTIES[difficulty].max_classes``). Defaults to 10.
        images_per_class (int): images per class. Defaults to 60.
        image_size (int): square image side in pixels (>= 32). Defaults to
            128.
        seed (int): seed (>= 0) of backgrounds, poses, colours and the
            split. Class definitions depend only on ``difficulty``.
            Defaults to 0.
        difficulty (str): a key of ``DIFFICULTIES``. Defaults to 'easy'.
        train_fraction (float): fraction of each class's images marked
            train in ``train_test_split.txt`` (stratified; with
            ``0 < train_fraction < 1`` each class keeps at least one train
            and one test image when it has two or more). Defaults to 0.5.
        with_masks (bool): write ``segmentations/``. Defaults to True.
        with_meta (bool): write ``image_meta.txt``: an observation location
            and date (and hour) per image, correlated with the class (see
            :func:`sample_meta`). The images do not change. Defaults to
            False.
        progress (bool): show a progress bar. Defaults to True.
        with_overhead (bool): also write a paired "overhead" view per image
            (``overhead/``, a habitat texture drawn at the true observation
            location by :func:`~mmfg.datasets.synth.overhead.
            render_overhead`) and ``cross_view.txt``, the index read by
            :class:`~mmfg.datasets.CrossViewDataset` (meta as in
            ``image_meta.txt``, split from ``train_test_split.txt``). The
            other files do not change. Defaults to False.

    Returns:
        str: ``out_dir``.

    Raises:
        ValueError: an argument out of range (the message says which).
        TypeError: a non-integer count, size or seed.
        FileExistsError: ``out_dir`` is a non-empty folder that is not
            SynthBirds, or a file.
    """
    _check_args(num_classes, images_per_class, image_size, seed, difficulty,
                train_fraction)
    args = synthbirds_gen_cfg(num_classes, images_per_class, image_size, seed,
                              difficulty, train_fraction, with_masks,
                              with_meta, with_overhead)
    out_dir = str(out_dir)
    abs_out = osp.abspath(osp.expanduser(out_dir))
    _check_out_dir(abs_out)
    parent = osp.dirname(abs_out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(
        prefix=f'.{osp.basename(abs_out)}.partial-', dir=parent)
    try:
        _generate_into(tmp, args, progress)
        _install(tmp, abs_out)
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _write_overhead(root: str, seed: int, img_id: int, c: int, size: int,
                    rel: str) -> None:
    """Render and write the overhead view of one image."""
    lat, lon = true_location(seed, img_id, c)
    tile = render_overhead(lat, lon, size,
                           np.random.default_rng([seed, img_id, 3]))
    ok, jpg = cv2.imencode('.jpg', tile, _JPEG_PARAMS)
    if not ok:
        raise RuntimeError(f'cv2 failed to encode overhead {img_id} as JPEG.')
    _write_bytes(osp.join(root, 'overhead', rel), jpg)


def _cross_view_lines(images_txt: List[str], seed: int, per_class: int,
                      is_train: np.ndarray) -> Iterable[str]:
    """``cross_view.txt``: ``<id> <ground> <overhead> <lat> <lon> <date>
    <class id> <split>`` per image (see ``CrossViewDataset``)."""
    for k, line in enumerate(images_txt):
        rel = line.split(' ', 1)[1]
        c = k // per_class
        lat, lon, date, _ = sample_meta(seed, k + 1, c)
        meta = format_meta_line(k + 1, lat, lon, date, None).split()[1:4]
        split = 'train' if is_train[k] else 'test'
        yield (f'{k + 1} images/{rel} overhead/{rel} {" ".join(meta)} '
               f'{c + 1} {split}')


def _generate_into(root: str, args: Dict[str, Any], progress: bool) -> None:
    """Write every file of the dataset into the (empty) folder ``root``."""
    num_classes = args['num_classes']
    per_class = args['images_per_class']
    size = args['image_size']
    seed = args['seed']
    difficulty = args['difficulty']
    codes = class_codes(num_classes, difficulty)
    names = [
        f'{c + 1:03d}.{class_name(code, difficulty)}'
        for c, code in enumerate(codes)
    ]
    definitions = [attributes_from_code(code) for code in codes]
    vocab = attribute_vocabulary()
    # present[c, a] = 1 where class c has attribute value a.
    attr_pos = {attr.name: j for j, attr in enumerate(PART_ATTRIBUTES)}
    vocab_attr = np.array([attr_pos[name] for name, _, _ in vocab])
    vocab_value = np.array([i for _, i, _ in vocab])
    value_index = (codes[:, vocab_attr] == vocab_value).astype(np.int64)
    attr_names = [name for name, _, _ in vocab]

    image_dirs = ['images'] + (['segmentations'] if args['with_masks'] else [])
    if args.get('with_overhead', False):
        image_dirs.append('overhead')
    for sub in ['parts', 'attributes'] + image_dirs:
        os.makedirs(osp.join(root, sub))
    for sub, name in itertools.product(image_dirs, names):
        os.makedirs(osp.join(root, sub, name))

    n_images = num_classes * per_class
    is_train = _split(num_classes, per_class, seed, args['train_fraction'])
    images_txt, labels_txt, split_txt, boxes_txt = [], [], [], []
    part_lines: List[str] = []
    attr_lines: List[str] = []
    present_sum = np.zeros((num_classes, len(vocab)), np.float64)

    for k in _iterate(n_images, progress):
        img_id = k + 1
        c = k // per_class
        rng = np.random.default_rng([seed, img_id])
        scene = sample_scene(rng, size, difficulty)
        out = render_bird(definitions[c], scene, with_regions=False)
        stem = names[c].split('.', 1)[1] + f'_{img_id:04d}'
        rel = f'{names[c]}/{stem}.jpg'
        ok, jpg = cv2.imencode('.jpg', out.image, _JPEG_PARAMS)
        if not ok:
            raise RuntimeError(f'cv2 failed to encode image {img_id} as JPEG.')
        _write_bytes(osp.join(root, 'images', rel), jpg)
        if args['with_masks']:
            ok, png = cv2.imencode('.png', out.mask, _PNG_PARAMS)
            if not ok:
                raise RuntimeError(
                    f'cv2 failed to encode mask {img_id} as PNG.')
            _write_bytes(
                osp.join(root, 'segmentations', names[c], stem + '.png'), png)

        if args.get('with_overhead', False):
            _write_overhead(root, seed, img_id, c, size, rel)

        images_txt.append(f'{img_id} {rel}')
        labels_txt.append(f'{img_id} {c + 1}')
        split_txt.append(f'{img_id} {int(is_train[k])}')
        x, y, w, h = (float(v) for v in out.bbox)
        boxes_txt.append(f'{img_id} {x:.1f} {y:.1f} {w:.1f} {h:.1f}')
        for p, (px, py, vis) in enumerate(out.parts):
            if vis > 0:
                part_lines.append(f'{img_id} {p + 1} {px:.2f} {py:.2f} 1')
            else:
                part_lines.append(f'{img_id} {p + 1} 0.0 0.0 0')
        # Deterministic annotation "times" (seconds), as CUB records them.
        times = np.random.default_rng([seed, img_id,
                                       1]).uniform(1.0, 12.0, len(vocab))
        present = value_index[c]
        present_sum[c] += present
        for a, name in enumerate(attr_names):
            certainty = 4 if out.attribute_visible[name] else 1
            attr_lines.append(f'{img_id} {a + 1} {int(present[a])} '
                              f'{certainty} {times[a]:.4f}')

    _write_lines(osp.join(root, 'images.txt'), images_txt)
    _write_lines(
        osp.join(root, 'classes.txt'),
        (f'{c + 1} {name}' for c, name in enumerate(names)))
    _write_lines(osp.join(root, 'image_class_labels.txt'), labels_txt)
    _write_lines(osp.join(root, 'train_test_split.txt'), split_txt)
    _write_lines(osp.join(root, 'bounding_boxes.txt'), boxes_txt)
    _write_lines(
        osp.join(root, 'parts', 'parts.txt'),
        (f'{i + 1} {name}' for i, name in enumerate(PART_NAMES)))
    _write_lines(osp.join(root, 'parts', 'part_locs.txt'), part_lines)
    _write_lines(
        osp.join(root, 'attributes', 'attributes.txt'),
        (f'{i + 1} {cub}' for i, (_, _, cub) in enumerate(vocab)))
    _write_lines(
        osp.join(root, 'attributes', 'certainties.txt'),
        (f'{i + 1} {name}' for i, name in enumerate(CERTAINTY_NAMES)))
    _write_lines(
        osp.join(root, 'attributes', 'image_attribute_labels.txt'), attr_lines)
    class_pct = 100.0 * present_sum / per_class
    _write_lines(
        osp.join(root, 'attributes', 'class_attribute_labels_continuous.txt'),
        (' '.join(f'{v:.6f}' for v in row) for row in class_pct))
    if args.get('with_meta', False):
        _write_lines(
            osp.join(root, META_FILE),
            (format_meta_line(k + 1, *sample_meta(seed, k + 1, k // per_class))
             for k in range(n_images)))
    if args.get('with_overhead', False):
        _write_lines(
            osp.join(root, CROSS_VIEW_FILE),
            _cross_view_lines(images_txt, seed, per_class, is_train))
    n_train = int(is_train.sum())
    _write_lines(
        osp.join(root, 'README.txt'),
        _readme(args, names, definitions, n_train, n_images - n_train))
    meta = dict(
        gen_cfg=args,
        generator='mmfg.datasets.synth.generate_synthbirds',
        generator_version=GENERATOR_VERSION,
        num_images=n_images,
        num_train=n_train,
        num_test=n_images - n_train,
        classes=names,
        class_definitions=definitions)
    # Written last: its presence marks a complete dataset.
    with open(osp.join(root, CONFIG_FILE), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write('\n')

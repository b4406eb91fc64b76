"""Parsing helpers shared by every mmfg dataset.

One home for reading the annotation formats fine-grained datasets ship in
(whitespace-separated text tables, MATLAB ``.mat`` files, JSON, PASCAL-VOC
XML) with the checks every dataset needs. All helpers fail with
:class:`~mmfg.utils.errors.DatasetNotFoundError` (a missing file, naming it
and how to obtain the dataset) or :class:`~mmfg.utils.errors.AnnotationError`
(a malformed entry, naming the file, the 1-based line and what was expected).
"""
import codecs
import difflib
import inspect
import io
import json
import math
import os.path as osp
import re
import warnings
import xml.etree.ElementTree as ET
from typing import (Any, Callable, Dict, Hashable, List, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np

from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)

#: A column of a text table: ``(name, converter)``. ``converter`` is
#: ``int``, ``float`` (finite numbers only) or ``str``.
Field = Tuple[str, Callable[[str], Any]]

#: A keyed table: ``key -> (1-based line number, values after the key)``.
KeyedRows = Dict[Hashable, Tuple[int, tuple]]

_TYPE_WORDS = {int: 'an integer', float: 'a finite number', str: 'a string'}


def require_path(path: str, dataset: str, how_to_get: str = '') -> str:
    """Return ``path`` if it exists, else raise ``DatasetNotFoundError``.

    Args:
        path (str): file or directory that must exist.
        dataset (str): dataset name for the message, e.g. ``'CUB-200-2011'``.
        how_to_get (str): where/how to obtain the missing file.

    Returns:
        str: ``path`` unchanged.
    """
    if not osp.exists(path):
        raise DatasetNotFoundError(path, dataset, how_to_get)
    return path


def _init_params(init: Callable) -> Tuple[set, bool]:
    """Keyword parameter names of ``init`` and whether it takes ``**kw``."""
    params = inspect.signature(init).parameters.values()
    names = {
        p.name
        for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    names.discard('self')
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def check_dataset_kwargs(dataset: Any, kwargs: Mapping[str, Any],
                         base_init: Callable) -> None:
    """Reject keyword arguments that a dataset would pass on but not use.

    A typo in a dataset config (``with_bboxes=True``) otherwise surfaces as
    Python's ``TypeError: BaseDataset.__init__() got an unexpected keyword
    argument``, which names neither the dataset nor the fix; an argument
    the dataset sets itself (``ann_file`` of CUB) as ``got multiple values
    for keyword argument``.

    Args:
        dataset (Any): the dataset being built (its class names the message;
            the ``__init__`` parameters along its MRO are the valid keys,
            except those of its ``FIXED_KWARGS`` attribute, a dict
            ``argument -> why`` of arguments the class sets itself).
        kwargs (Mapping[str, Any]): the arguments about to be passed on.
        base_init (Callable): the initializer that receives ``kwargs``; when
            it takes ``**kwargs`` only ``FIXED_KWARGS`` is checked here.

    Raises:
        ConfigError: names the dataset class, each bad key, the closest
            valid key and the valid keys.
    """
    name = type(dataset).__name__
    fixed = dict(getattr(dataset, 'FIXED_KWARGS', None) or {})
    for key, why in fixed.items():
        if key in kwargs:
            raise ConfigError(
                f'{name}: do not pass `{key}`: {why} Remove `{key}` from '
                'the dataset config.')
    accepted, open_ended = _init_params(base_init)
    unknown = [key for key in kwargs if key not in accepted]
    if open_ended or not unknown:
        return
    valid = set(accepted)
    for klass in type(dataset).__mro__:
        init = klass.__dict__.get('__init__')
        if inspect.isfunction(init):
            valid |= _init_params(init)[0]
    valid -= set(fixed)
    bad = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(valid), 1, 0.85)
        bad.append(f'`{key}`' +
                   (f' (did you mean `{close[0]}`?)' if close else ''))
    raise ConfigError(
        f'{name} got unknown argument(s) {", ".join(bad)}. Fix or remove '
        f'them in the dataset config; {name} accepts: '
        f'{", ".join(sorted(valid))}.')


def find_path(candidates: Sequence[str],
              dataset: str,
              how_to_get: str = '') -> str:
    """Return the first existing path among ``candidates``.

    Args:
        candidates (Sequence[str]): paths tried in order.
        dataset (str): dataset name for the message.
        how_to_get (str): where/how to obtain the file.

    Returns:
        str: the first candidate that exists.

    Raises:
        DatasetNotFoundError: none exists; the message lists every candidate.
    """
    for path in candidates:
        if osp.exists(path):
            return path
    others = ', '.join(f'"{p}"' for p in candidates[1:])
    hint = f'(also looked for {others}.) ' if others else ''
    raise DatasetNotFoundError(candidates[0], dataset, hint + how_to_get)


def _read_text_lines(path: str, dataset: str, how_to_get: str) -> List[str]:
    """The lines of a UTF-8 text file (missing file and bad bytes checked).

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (as Python's text mode reads
    them), so line numbers are those an editor shows; a leading UTF-8 byte
    order mark (Windows editors write one) is dropped.

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        AnnotationError: the file is not UTF-8 text (names the line).
    """
    require_path(path, dataset, how_to_get)
    with open(path, 'rb') as f:
        raw = f.read()
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        text = raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        lineno = raw.count(b'\n', 0, bom + e.start) + 1
        raise AnnotationError(
            path, lineno, f'is not UTF-8 text ({e}). Re-extract the file '
            'from the original archive.') from None
    return io.StringIO(text, newline=None).read().split('\n')


def _convert(token: str, conv: Callable[[str], Any], name: str, path: str,
             lineno: int) -> Any:
    try:
        value = conv(token)
    except ValueError:
        value = None
    if value is None or (conv is float and not math.isfinite(value)):
        raise AnnotationError(
            path, lineno, f'field "{name}" must be '
            f'{_TYPE_WORDS.get(conv, conv.__name__)}, got "{token}". Fix the '
            'line (compare it with the original download) or remove it.')
    return value


def read_rows(path: str,
              fields: Sequence[Field],
              *,
              dataset: str,
              how_to_get: str = '',
              rest: bool = False,
              extra: str = 'error') -> List[Tuple[int, tuple]]:
    """Read a whitespace-separated text table, checking every line.

    Blank lines are skipped. Each other line must have one token per field
    (``rest=True``: the last field takes all remaining tokens joined by single
    spaces, for names that contain spaces such as ``"left eye"``).

    Args:
        path (str): the text file.
        fields (Sequence[Field]): ``(name, converter)`` per column, converter
            ``int``, ``float`` (finite) or ``str``.
        dataset (str): dataset name for a missing-file message.
        how_to_get (str): where/how to obtain the file.
        rest (bool): the last field swallows the rest of the line.
        extra (str): what to do with tokens beyond ``fields`` when
            ``rest=False``: ``'error'`` or ``'ignore'``.

    Returns:
        list[tuple[int, tuple]]: ``(1-based line number, converted values)``
        per non-blank line, in file order.
    """
    assert extra in ('error', 'ignore'), extra
    lines = _read_text_lines(path, dataset, how_to_get)
    names = ' '.join(f'<{name}>' for name, _ in fields)
    n = len(fields)
    rows = []
    convs = [conv for _, conv in fields]
    float_cols = [i for i, conv in enumerate(convs) if conv is float]
    isfinite = math.isfinite
    for lineno, line in enumerate(lines, 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != n:
            if rest and len(tokens) > n:
                tokens = tokens[:n - 1] + [' '.join(tokens[n - 1:])]
            elif len(tokens) < n or extra == 'error':
                at_least = 'at least ' if extra == 'ignore' else ''
                raise AnnotationError(
                    path, lineno,
                    f'expected {at_least}{n} whitespace-separated field(s) '
                    f'"{names}", got {len(tokens)}: "{line.strip()}". Fix '
                    'the line (compare it with the original download) or '
                    'remove it.')
            else:
                tokens = tokens[:n]
        try:
            values = tuple([conv(tok) for conv, tok in zip(convs, tokens)])
            ok = True
            for i in float_cols:
                ok = ok and isfinite(values[i])
        except ValueError:
            ok = False
        if not ok:  # name the offending field
            for tok, (name, conv) in zip(tokens, fields):
                _convert(tok, conv, name, path, lineno)
        rows.append((lineno, values))
    return rows


def read_keyed(path: str,
               fields: Sequence[Field],
               *,
               dataset: str,
               how_to_get: str = '',
               rest: bool = False,
               extra: str = 'error') -> KeyedRows:
    """Read a text table whose first column is a unique key.

    Args:
        path (str): the text file.
        fields (Sequence[Field]): columns, the first one being the key.
        dataset (str): dataset name for a missing-file message.
        how_to_get (str): where/how to obtain the file.
        rest (bool): see :func:`read_rows`.
        extra (str): see :func:`read_rows`.

    Returns:
        dict: ``key -> (1-based line number, values after the key)`` in file
        order.

    Raises:
        AnnotationError: a key appears twice (names both lines).
    """
    table: KeyedRows = {}
    for lineno, values in read_rows(
            path,
            fields,
            dataset=dataset,
            how_to_get=how_to_get,
            rest=rest,
            extra=extra):
        key = values[0]
        if key in table:
            raise AnnotationError(
                path, lineno, f'duplicate {fields[0][0]} {key!r} (first on '
                f'line {table[key][0]}). Each {fields[0][0]} may appear once; '
                'remove one of the lines.')
        table[key] = (lineno, values[1:])
    return table


def check_same_keys(reference: Mapping[Hashable, Tuple[int, Any]],
                    reference_path: str,
                    other: Mapping[Hashable, Tuple[int, Any]],
                    other_path: str,
                    what: str = 'image id',
                    allow_missing: bool = False) -> None:
    """Check that ``other`` describes exactly the keys of ``reference``.

    Args:
        reference (Mapping): keyed rows of the defining file (e.g.
            ``images.txt``), ``key -> (lineno, ...)``.
        reference_path (str): its path, for messages.
        other (Mapping): keyed rows of the file checked against it.
        other_path (str): its path, for messages.
        what (str): what the key is, for messages.
        allow_missing (bool): accept keys of ``reference`` absent in
            ``other`` (only unknown keys are errors).

    Raises:
        AnnotationError: ``other`` has a key unknown to ``reference`` (names
            its line) or lacks a key of ``reference`` (names the first one).
    """
    for key, (lineno, _) in other.items():
        if key not in reference:
            raise AnnotationError(
                other_path, lineno,
                f'unknown {what} {key!r}: it is not listed in '
                f'"{reference_path}". Remove the line or add the entry there.')
    if allow_missing or len(other) == len(reference):
        return
    missing = [k for k in reference if k not in other]
    first = missing[0]
    raise AnnotationError(
        other_path, None,
        f'{len(missing)} {what}(s) listed in "{reference_path}" have no line '
        f'here, e.g. {first!r} ("{reference_path}" line '
        f'{reference[first][0]}). Every {what} needs exactly one line; '
        'restore the file from the original download.')


def read_nonempty_lines(path: str,
                        *,
                        dataset: str,
                        how_to_get: str = '') -> List[Tuple[int, str]]:
    """Read the stripped non-blank lines of a text file.

    Args:
        path (str): the text file.
        dataset (str): dataset name for a missing-file message.
        how_to_get (str): where/how to obtain the file.

    Returns:
        list[tuple[int, str]]: ``(1-based line number, stripped text)``.
    """
    lines = _read_text_lines(path, dataset, how_to_get)
    return [(i, line.strip()) for i, line in enumerate(lines, 1)
            if line.strip()]


def read_int_matrix_fast(path: str, num_cols: int) -> Optional[np.ndarray]:
    """Read the first ``num_cols`` integer columns of a large text table.

    A fast path for big, usually well-formed tables (CUB's 3.7M-line
    ``image_attribute_labels.txt``). Extra columns are ignored. Returns None
    when any line is malformed, so the caller can re-read the file with
    :func:`read_rows` to report the exact line.

    Args:
        path (str): the text file (must exist).
        num_cols (int): number of leading integer columns.

    Returns:
        np.ndarray | None: int64 ``(L, num_cols)`` over the non-blank lines,
        or None when numpy cannot parse the file.
    """
    try:
        with warnings.catch_warnings():
            # an empty file is valid (no rows), not worth a warning
            warnings.simplefilter('ignore', UserWarning)
            table = np.loadtxt(
                path,
                usecols=range(num_cols),
                dtype=np.int64,
                comments=None,
                ndmin=2)
    except ValueError:
        return None
    return table.reshape(-1, num_cols)


def read_json(path: str, *, dataset: str, how_to_get: str = '') -> Any:
    """Load a JSON file, reporting syntax errors with their line.

    Args:
        path (str): the JSON file.
        dataset (str): dataset name for a missing-file message.
        how_to_get (str): where/how to obtain the file.

    Returns:
        Any: the decoded document.
    """
    require_path(path, dataset, how_to_get)
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        lineno = getattr(e, 'lineno', None)
        reason = getattr(e, 'msg', str(e))
        raise AnnotationError(
            path, lineno, f'invalid JSON ({reason}). The file is truncated '
            'or corrupt; download it again.') from None


def load_mat(path: str, *, dataset: str, how_to_get: str = '') -> dict:
    """Load a MATLAB ``.mat`` file with structs and cells simplified.

    Args:
        path (str): the ``.mat`` file.
        dataset (str): dataset name for a missing-file message.
        how_to_get (str): where/how to obtain the file.

    Returns:
        dict: variable name -> value (struct arrays become lists of dicts,
        cell arrays become arrays/lists; see :func:`mat_list`).
    """
    import scipy.io
    require_path(path, dataset, how_to_get)
    try:
        return scipy.io.loadmat(path, simplify_cells=True)
    except Exception as e:  # scipy raises several types for corrupt files
        raise AnnotationError(
            path, None, f'cannot be read as a MATLAB .mat file ({e}). '
            'Download it again.') from None


def mat_list(value: Any) -> list:
    """Turn a value from :func:`load_mat` into a Python list.

    ``simplify_cells`` squeezes a one-element cell/struct array to its
    element; this undoes that so one code path handles 1 and N entries.

    Args:
        value (Any): array, list, dict (one struct) or scalar.

    Returns:
        list: the entries.
    """
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def mat_field(path: str, mat: dict, key: str) -> Any:
    """Fetch variable ``key`` from a loaded ``.mat`` file.

    Args:
        path (str): the file, for the message.
        mat (dict): the loaded file.
        key (str): the variable.

    Returns:
        Any: its value.

    Raises:
        AnnotationError: the variable is absent (names those present).
    """
    if key not in mat:
        present = sorted(k for k in mat if not k.startswith('__'))
        raise AnnotationError(
            path, None, f'has no variable "{key}" (found {present}). Is this '
            'the right file of the official release?')
    return mat[key]


def read_voc_boxes(path: str) -> np.ndarray:
    """Read every ``<object><bndbox>`` of a PASCAL-VOC-style XML file.

    Args:
        path (str): the XML annotation (existence checked by the caller).

    Returns:
        np.ndarray: float32 ``(N, 4)`` boxes ``xmin, ymin, xmax, ymax`` as
        written in the file, N >= 1.

    Raises:
        AnnotationError: malformed XML (with its line), a missing or
            non-numeric coordinate, ``xmax < xmin`` or no box at all.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise AnnotationError(
            path, e.position[0], f'malformed XML ({e}). Restore the file from '
            'the original annotation archive.') from None
    boxes = []
    for k, bndbox in enumerate(root.iter('bndbox')):
        coords = []
        for tag in ('xmin', 'ymin', 'xmax', 'ymax'):
            node = bndbox.find(tag)
            text = node.text.strip() if node is not None and node.text else ''
            try:
                coords.append(float(text))
            except ValueError:
                raise AnnotationError(
                    path, None, f'<bndbox> #{k + 1}: <{tag}> must be a number,'
                    f' got "{text}". Restore the file from the original '
                    'annotation archive.') from None
        if coords[2] < coords[0] or coords[3] < coords[1]:
            raise AnnotationError(
                path, None, f'<bndbox> #{k + 1}: max < min in {coords}.')
        boxes.append(coords)
    if not boxes:
        raise AnnotationError(
            path, None, 'contains no <object><bndbox>. Every image needs at '
            'least one box; restore the file or set with_bbox=False.')
    return np.asarray(boxes, dtype=np.float32)


def part_flip_pairs(part_names: Sequence[str]) -> List[Tuple[int, int]]:
    """Pair parts whose names differ only by ``left``/``right``.

    Args:
        part_names (Sequence[str]): part names in index order, e.g. CUB's
            ``['back', 'beak', ..., 'left eye', ..., 'right eye', ...]``.

    Returns:
        list[tuple[int, int]]: 0-based ``(left, right)`` index pairs swapped
        by a horizontal flip, sorted by the left index.
    """
    pattern = re.compile(r'\b(left|right)\b', re.IGNORECASE)
    index = {name.strip().lower(): i for i, name in enumerate(part_names)}
    pairs = []
    for name, i in index.items():
        if not re.search(r'\bleft\b', name):
            continue
        mirrored = pattern.sub(
            lambda m: 'right'
            if m.group(1).lower() == 'left' else 'left', name)
        if mirrored in index:
            pairs.append((i, index[mirrored]))
    return sorted(pairs)


def stratified_holdout(labels: Sequence[int], ratio: float,
                       seed: int) -> np.ndarray:
    """Pick a seeded, per-class stratified hold-out subset.

    Each class with ``n >= 2`` samples gives ``round(ratio * n)`` of them,
    clipped to ``[1, n - 1]`` (so every class keeps at least one sample on
    both sides); classes with one sample keep it. The choice inside a class
    depends only on ``seed``, the class label and the order of that class's
    samples, so adding or removing other classes does not change it.

    Args:
        labels (Sequence[int]): class label per sample, length N.
        ratio (float): fraction held out, in ``[0, 1)``.
        seed (int): random seed.

    Returns:
        np.ndarray: bool ``(N,)``, True for held-out samples.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    held = np.zeros(labels.shape[0], dtype=bool)
    if ratio <= 0:
        return held
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = members.size
        if n < 2:
            continue
        k = int(min(max(round(ratio * n), 1), n - 1))
        rng = np.random.default_rng([int(seed), int(label) & 0x7FFFFFFF])
        held[members[rng.permutation(n)[:k]]] = True
    return held

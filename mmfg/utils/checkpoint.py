"""Safe checkpoint loading for MMEngine on PyTorch >= 2.6.

PyTorch 2.6 made ``torch.load(weights_only=True)`` the default. MMEngine
0.10.7 checkpoints carry a few non-tensor objects (``HistoryBuffer`` log
scalars, numpy arrays and scalars, ``collections.Counter`` milestones, and the
bound statistics methods of ``HistoryBuffer`` pickled as
``getattr(buffer, 'min')``), so loading them fails with an
``UnpicklingError``. Instead of switching the check off, mmfg allows exactly
those globals, and replaces ``builtins.getattr`` by a version that only
resolves the registered statistics methods of a ``HistoryBuffer``.

A checkpoint holding any other pickled global is refused with
:class:`UnsafeCheckpointError`. Files you trust can be opted in explicitly:

- environment variable ``MMFG_TRUSTED_CHECKPOINTS``: paths separated by
  ``os.pathsep`` (``:`` on Linux), or
- ``with mmfg.utils.trusted_checkpoints(path): ...`` in Python, or
- ``tools/test.py ... --trust-checkpoint`` for the checkpoint given there.
"""
import contextlib
import io
import os
import os.path as osp
import pickle
import re
from collections import Counter
from typing import IO, Any, Iterator, List, Optional, Sequence, Set, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = [
    'UnsafeCheckpointError', 'safe_torch_load', 'trusted_checkpoints',
    'MMENGINE_SAFE_GLOBALS', 'patch_mmengine_checkpoint_loader'
]

TRUST_ENV = 'MMFG_TRUSTED_CHECKPOINTS'
_TRUSTED: Set[str] = set()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised when a checkpoint contains a global MMEngine never writes."""


# Default statistics of ``HistoryBuffer`` (``_set_default_statistics``);
# methods added through ``HistoryBuffer.register_statistics`` are allowed too.
_HISTORY_STATS = {'mean', 'max', 'min', 'current'}


def _history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to the statistics methods of a HistoryBuffer.

    MMEngine checkpoints pickle ``HistoryBuffer._statistics_methods`` (the
    functions ``HistoryBuffer.min``, ``.max``, ...) with protocol 2, which
    writes a dotted qualified name as ``getattr(HistoryBuffer, 'min')``;
    nothing else in a checkpoint needs ``getattr``.
    """
    if obj is HistoryBuffer and isinstance(name, str) and \
            name in (_HISTORY_STATS | set(HistoryBuffer._statistics_methods)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r:.60}, {name!r}) is not allowed in a '
        'checkpoint: only the statistics methods of an MMEngine '
        'HistoryBuffer may be resolved.')


def _numpy_globals() -> List:
    """numpy globals that appear in checkpoints, under numpy 1 and 2 names."""
    from numpy.core import multiarray as _ma1  # noqa: F401 (may warn)
    try:
        from numpy._core import multiarray as ma
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray as ma
    out = [np.ndarray, np.dtype]
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        out.append((ma._reconstruct, f'{mod}._reconstruct'))
        out.append((ma.scalar, f'{mod}.scalar'))
    # numpy >= 1.25 pickles dtypes of some arrays by their DType class.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            obj = getattr(dtypes, name)
            if isinstance(obj, type) and name.endswith('DType'):
                out.append((obj, f'numpy.dtypes.{name}'))
    return out


def _build_safe_globals() -> List:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        numpy_globals = _numpy_globals()
    return [
        HistoryBuffer,
        Counter,
        (_history_buffer_getattr, 'builtins.getattr'),
    ] + numpy_globals


MMENGINE_SAFE_GLOBALS = _build_safe_globals()


def _norm(path: str) -> str:
    return osp.realpath(osp.expanduser(str(path)))


def _is_trusted(filename) -> bool:
    if not isinstance(filename, (str, os.PathLike)):
        return False
    path = _norm(filename)
    env = os.environ.get(TRUST_ENV, '')
    env_paths = {_norm(p) for p in env.split(os.pathsep) if p.strip()}
    return path in _TRUSTED or path in env_paths


@contextlib.contextmanager
def trusted_checkpoints(paths: Union[str, Sequence[str]]) -> Iterator[None]:
    """Trust the given checkpoint files (full unpickling) inside the block.

    Only use this for files whose origin you trust: unpickling can run
    arbitrary code.

    Args:
        paths (str | Sequence[str]): checkpoint paths to trust.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    added = {_norm(p) for p in paths} - _TRUSTED
    _TRUSTED.update(added)
    try:
        yield
    finally:
        _TRUSTED.difference_update(added)


def safe_torch_load(f: Union[str, IO[bytes]],
                    map_location: Any = None,
                    name: Optional[str] = None,
                    trusted: bool = False) -> Any:
    """``torch.load`` that accepts MMEngine checkpoints and nothing else.

    Args:
        f (str | file-like): checkpoint path or an open binary buffer.
        map_location: as in :func:`torch.load`.
        name (str, optional): name used in error messages (defaults to the
            path).
        trusted (bool): load with full unpickling. Only for trusted files.

    Returns:
        The unpickled checkpoint object.

    Raises:
        UnsafeCheckpointError: when the file contains another global.
    """
    name = name or (str(f) if isinstance(f, (str, os.PathLike)) else
                    '<buffer>')
    if trusted or _is_trusted(f):
        return torch.load(f, map_location=map_location, weights_only=False)
    with torch.serialization.safe_globals(MMENGINE_SAFE_GLOBALS):
        try:
            return torch.load(
                f, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            match = re.search(r'GLOBAL ([\w.]+)', str(e))
            what = match.group(1) if match else 'an unknown object'
            raise UnsafeCheckpointError(
                f"Refusing to load checkpoint '{name}': it contains the "
                f"pickled global '{what}', which MMEngine/mmfg checkpoints "
                'never contain, and unpickling it could run arbitrary code. '
                'If you trust this file, opt in explicitly: set '
                f'{TRUST_ENV}={_norm(name) if osp.exists(str(name)) else name}'
                ' (paths separated by os.pathsep), pass --trust-checkpoint '
                'to tools/test.py, or wrap the call in '
                '`with mmfg.utils.trusted_checkpoints(path):`. Otherwise '
                'convert it to a plain state dict with a trusted tool.'
            ) from e


def _load_from_local(filename, map_location):
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} not found')
    return safe_torch_load(filename, map_location=map_location)


def _load_from_backend(filename, map_location):
    from mmengine.fileio import get
    buffer = io.BytesIO(get(filename))
    return safe_torch_load(buffer, map_location=map_location, name=filename)


_PATCHED = False


def patch_mmengine_checkpoint_loader() -> None:
    """Route MMEngine's local/backend checkpoint loading through
    :func:`safe_torch_load` (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
    backend_prefixes = [
        p for p in CheckpointLoader._schemes
        if re.match(r'^(s3|petrel|sproxy|ceph)\b', p)
    ]
    if backend_prefixes:
        CheckpointLoader.register_scheme(
            prefixes=backend_prefixes, loader=_load_from_backend, force=True)
    _PATCHED = True

"""Errors that tell the user which file, which line and what to do."""
from typing import Optional


class MMFGError(Exception):
    """Base class of mmfg's user-facing errors."""


class DatasetNotFoundError(MMFGError, FileNotFoundError):
    """A data root or an annotation file is missing.

    Args:
        path (str): the missing path.
        dataset (str): dataset name, e.g. ``'CUB-200-2011'``.
        how_to_get (str): where/how to obtain it.
    """

    def __init__(self, path: str, dataset: str, how_to_get: str = ''):
        self.path = path
        msg = f'{dataset}: "{path}" does not exist.'
        if how_to_get:
            msg += f' {how_to_get}'
        super().__init__(msg)


class AnnotationError(MMFGError, ValueError):
    """A malformed annotation line.

    Args:
        path (str): annotation file.
        lineno (int | None): 1-based line number.
        msg (str): what is wrong and what was expected.
    """

    def __init__(self, path: str, lineno: Optional[int], msg: str):
        self.path = path
        self.lineno = lineno
        where = f'{path}, line {lineno}' if lineno is not None else path
        super().__init__(f'{where}: {msg}')


class CorruptImageError(MMFGError, OSError):
    """An image that cannot be read or decoded."""

    def __init__(self, path: str, reason: str = ''):
        if not reason and '\n' in path:
            # re-raised from a DataLoader worker: torch passes the whole
            # formatted message (with the worker's traceback) as one string
            self.path = None
            super().__init__(path)
            return
        self.path = path
        super().__init__(
            f'Cannot read image "{path}"' + (f': {reason}' if reason else '') +
            '. Replace or remove the file, or set `skip_corrupt=True` on the '
            'loading transform to skip (and count) unreadable images.')


class ConfigError(MMFGError, ValueError):
    """A config value that contradicts the data or another config value."""

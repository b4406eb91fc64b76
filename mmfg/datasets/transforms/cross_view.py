"""Gather several loaded views into the list input of a multi-view model."""
from typing import Sequence

from mmcv.transforms import BaseTransform

from mmfg.registry import TRANSFORMS
from mmfg.utils.errors import ConfigError

__all__ = ['CollectViews']


@TRANSFORMS.register_module()
class CollectViews(BaseTransform):
    """Put the images under ``keys`` into ``results[out_key]`` as a list.

    Used for cross-view data (:class:`~mmfg.datasets.CrossViewDataset`):
    the ground image (``img``) and the overhead image (``overhead_img``,
    loaded and resized by a ``KeyMapper``-wrapped pipeline) become
    ``img = [ground, overhead]``; ``PackFGInputs`` then packs a list of two
    CHW tensors, MMEngine collates it view by view and a self-supervised
    data preprocessor normalises each view (the views may have different
    sizes). The other keys are removed.

    Args:
        keys (Sequence[str]): keys of the views, in order. Defaults to
            ``('img', 'overhead_img')``.
        out_key (str): key of the list. Defaults to ``'img'``.

    Raises:
        KeyError: a view is missing (names it and the loaded keys).
    """

    def __init__(self,
                 keys: Sequence[str] = ('img', 'overhead_img'),
                 out_key: str = 'img') -> None:
        if isinstance(keys, str) or len(keys) < 2:
            raise ConfigError('CollectViews: keys must list at least two '
                              f'views, got {keys!r}.')
        self.keys = tuple(keys)
        self.out_key = out_key

    def transform(self, results: dict) -> dict:
        """Replace the views by their list under ``out_key``."""
        missing = [k for k in self.keys if results.get(k) is None]
        if missing:
            raise KeyError(
                f'CollectViews: no {missing} in the results of '
                f'"{results.get("img_path", "?")}" (keys: '
                f'{sorted(results)}). Load every view before CollectViews '
                '(e.g. KeyMapper(mapping=dict(img_path="overhead_path", '
                'img="overhead_img"), transforms=[LoadImageFromFile])).')
        views = [results.pop(k) for k in self.keys]
        results[self.out_key] = views
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys!r}, '
                f'out_key={self.out_key!r})')

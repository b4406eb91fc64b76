"""Attribute vectors to condition on: class-level rows and named edits."""
import copy
from typing import List, Sequence, Tuple

import numpy as np
from mmengine.config import Config

from mmfg.registry import DATASETS
from mmfg.utils.errors import ConfigError

__all__ = ['load_attribute_table', 'edit_attributes']


def load_attribute_table(cfg: Config,
                         split_key: str = 'test_dataloader'
                         ) -> Tuple[List[str], np.ndarray, object]:
    """Attribute names and the class-level table of a config's dataset.

    Args:
        cfg (Config): a config whose ``split_key`` dataset is a CUB-style
            dataset (CUB, SynthBirds) with ``with_attributes=True``.
        split_key (str): which dataloader's dataset. Defaults to
            ``'test_dataloader'``.

    Returns:
        tuple: ``names`` (A strings, e.g. ``'has_crown_color::red'``),
        ``table`` float32 ``(C, A)`` in ``[0, 1]`` (class-level
        ``class_attribute_labels_continuous.txt`` / 100) and the dataset.
    """
    ds_cfg = copy.deepcopy(cfg[split_key].dataset)
    ds_cfg['pipeline'] = []
    ds_cfg['with_attributes'] = True
    dataset = DATASETS.build(ds_cfg)
    names = list(dataset.metainfo.get('attribute_names') or [])
    table = dataset.class_attributes
    if table is None or not names:
        raise ConfigError(
            f'{type(dataset).__name__} at "{ds_cfg.get("data_root")}" has no '
            'attributes/attributes.txt or class_attribute_labels_continuous'
            '.txt; the CVAE tools need both.')
    return names, np.asarray(table, np.float32) / 100., dataset


def edit_attributes(base: np.ndarray, names: Sequence[str],
                    settings: Sequence[str]) -> np.ndarray:
    """Set named attributes on a base vector, exclusively within a group.

    CUB attribute names are ``<group>::<value>`` (``has_crown_color::red``).
    Setting one value of a group to 1 sets the other values of that group
    to 0, so the vector stays a plausible description.

    Args:
        base (np.ndarray): ``(A,)`` starting vector.
        names (Sequence[str]): the ``A`` attribute names.
        settings (Sequence[str]): names to switch on.

    Returns:
        np.ndarray: the edited ``(A,)`` float32 vector.

    Raises:
        ConfigError: an unknown name (the message lists close ones).
    """
    y = np.array(base, np.float32, copy=True)
    index = {n: i for i, n in enumerate(names)}
    for s in settings:
        s = s.strip()
        if s not in index:
            group = s.split('::')[0]
            close = [n for n in names if n.startswith(group)][:8]
            raise ConfigError(
                f'Unknown attribute "{s}". '
                + (f'Values of that group: {close}.' if close else
                   f'Known attributes look like "{names[0]}".'))
        group = s.split('::')[0] + '::'
        for n, i in index.items():
            if n.startswith(group):
                y[i] = 0.
        y[index[s]] = 1.
    return y

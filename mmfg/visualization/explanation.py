"""One entry point that renders any mmfg explanation.

Heads return explanations as dicts with a ``'type'`` key (e.g.
``'protopnet'``, ``'prototree'``, ``'cam'``). Each method registers a
renderer for its type in :data:`EXPLANATION_RENDERERS`; :func:`explain`
(``mmfg.apis``) and ``tools/analysis_tools/explain.py`` call
:func:`render_explanation`, which dispatches on the type.
"""
from typing import Any, Callable, Dict

import numpy as np

EXPLANATION_RENDERERS: Dict[str, Callable] = {}


def render_explanation(expl: dict, img: np.ndarray, out_file: str) -> Any:
    """Render ``expl`` for ``img`` into ``out_file``.

    Args:
        expl (dict): an explanation from a head's ``explain``; must have a
            ``'type'`` key with a registered renderer.
        img (np.ndarray): the image as the model saw it, ``(H, W, 3)`` uint8
            RGB.
        out_file (str): output path (PNG/SVG/HTML as the renderer decides
            from the extension).

    Returns:
        Whatever the renderer returns (usually the written path(s)).
    """
    kind = expl.get('type')
    if kind not in EXPLANATION_RENDERERS:
        raise KeyError(
            f'No renderer for explanation type {kind!r}. Known types: '
            f'{sorted(EXPLANATION_RENDERERS)}. Import the module that '
            'defines the head (it registers its renderer).')
    return EXPLANATION_RENDERERS[kind](expl, img, out_file)

"""Render WSOL localisations: map overlay, predicted and GT boxes (PNG).

Public signature (stable)::

    render_localization(expl, img, out_file) -> str
    # expl = dict(type='localization', loc_map=(H, W), pred_boxes=(K, 4),
    #             gt_boxes=(N, 4) optional, title=str optional)

Registered as the ``'localization'`` renderer of
:func:`mmfg.visualization.render_explanation`; used by
:func:`mmfg.apis.localize` and
:class:`~mmfg.engine.hooks.LocalizationVisualizationHook`
(``tools/test.py --show-dir``). Boxes use the protocol's integer
``x0, y0, x1, y1`` (inclusive corners).
"""
from typing import Any, Dict

import cv2
import numpy as np

from .explanation import EXPLANATION_RENDERERS
from .prototypes import _GREEN, _RED, _write_png, heatmap_overlay

__all__ = ['render_localization']


def _draw(img: np.ndarray, boxes, color, thickness: int) -> None:
    h, w = img.shape[:2]
    for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        x0, y0, x1, y1 = [int(round(v)) for v in b]
        x0, x1 = min(max(x0, 0), w - 1), min(max(x1, 0), w - 1)
        y0, y1 = min(max(y0, 0), h - 1), min(max(y1, 0), h - 1)
        cv2.rectangle(img, (x0, y0), (x1, y1), color, thickness)


def render_localization(expl: Dict[str, Any], img: np.ndarray,
                        out_file: str) -> str:
    """Write the image | map overlay with boxes side by side as a PNG.

    Args:
        expl (dict): ``loc_map (H, W)`` (any range, resized to the image if
            needed), ``pred_boxes (K, 4)`` (red), optional ``gt_boxes
            (N, 4)`` (green) and ``title``.
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB, as the model saw it.
        out_file (str): PNG path.

    Returns:
        str: ``out_file``.
    """
    h, w = img.shape[:2]
    heat = np.asarray(expl['loc_map'], dtype=np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_CUBIC)
    thick = max(1, round(max(h, w) / 160))
    left = np.ascontiguousarray(img.copy())
    right = np.ascontiguousarray(heatmap_overlay(img, heat))
    for panel in (left, right):
        if expl.get('gt_boxes') is not None:
            _draw(panel, expl['gt_boxes'], _GREEN, thick)
        _draw(panel, expl.get('pred_boxes', []), _RED, thick)
    canvas = np.concatenate(
        [left, np.full((h, 4, 3), 255, np.uint8), right], 1)
    title = expl.get('title')
    if title:
        bar = np.full((max(14, h // 10), canvas.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, str(title), (3, bar.shape[0] - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, bar.shape[0] / 40, (0, 0, 0),
                    1, cv2.LINE_AA)
        canvas = np.concatenate([bar, canvas], 0)
    return _write_png(out_file, canvas)


EXPLANATION_RENDERERS['localization'] = render_localization

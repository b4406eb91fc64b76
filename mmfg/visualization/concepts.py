"""Render concept-transformer explanations (type ``'cct'``) as a PNG.

Layout: the image, a panel with the top classes and the highest global
concept scores (with bars), then one overlay per top spatial concept
(its patch attention upsampled onto the image, titled with the concept
name and mean attention).

Registered as the ``'cct'`` renderer of
:func:`mmfg.visualization.render_explanation`, so
``tools/analysis_tools/explain.py`` and :func:`mmfg.apis.explain` draw
``CCTHead`` explanations; the maps come from
:mod:`mmfg.explain.concepts`.
"""
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from .explanation import EXPLANATION_RENDERERS
from .prototypes import _grid, _text_panel, _write_png, heatmap_overlay

__all__ = ['render_concept_explanation']

_BAR = (40, 110, 220)


def _score_panel(lines: List[str], bars: List[Optional[float]],
                 min_hw: Tuple[int, int]) -> np.ndarray:
    """White panel with one text line per entry, each with a bar of
    relative length ``bars[i]`` (None: no bar) under it."""
    step, scale = 16, 0.38
    h = max(min_hw[0], step * len(lines) + 6)
    w = max(min_hw[1], 8 + 6 * max((len(t) for t in lines), default=0))
    panel = np.full((h, w, 3), 255, np.uint8)
    for i, (text, frac) in enumerate(zip(lines, bars)):
        y = (i + 1) * step - 5
        cv2.putText(panel, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
        if frac is not None:
            cv2.rectangle(panel, (4, y + 2),
                          (4 + int((w - 8) * frac), y + 3), _BAR, -1)
    return panel


def render_concept_explanation(expl: Dict[str, Any], img: np.ndarray,
                               out_file: str, max_global: int = 8) -> str:
    """Write one CCT explanation as a PNG.

    Args:
        expl (dict): from ``CCTHead.explain`` (``classes``,
            ``global_concepts``, ``spatial_concepts`` with ``heatmap``
            ``(H, W)``).
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB as the model saw it.
        out_file (str): PNG path.
        max_global (int): global concepts listed.

    Returns:
        str: ``out_file``.
    """
    H, W = img.shape[:2]
    lines, bars = [], []
    for c in expl.get('classes', []):
        lines.append(f'{c["name"]}: {c["score"]:.2f}')
        bars.append(None)
    glob = expl.get('global_concepts', [])[:max_global]
    top = max([g['score'] for g in glob] + [1e-12])
    for g in glob:
        lines.append(f'{g["name"][:28]} {g["score"]:.2f}')
        bars.append(g['score'] / top)
    panels = [img, _score_panel(lines, bars, (H, 2 * W))]
    for s in expl.get('spatial_concepts', []):
        heat = np.asarray(s['heatmap'], dtype=np.float32)
        if heat.shape != (H, W):
            heat = cv2.resize(heat, (W, H), interpolation=cv2.INTER_CUBIC)
        over = heatmap_overlay(img, heat)
        title = _text_panel([f'{s["name"][:24]}', f'mean {s["score"]:.3f}'],
                            (30, W))
        panels.append(np.concatenate([over, title], 0))
    return _write_png(out_file, _grid([panels]))


EXPLANATION_RENDERERS['cct'] = render_concept_explanation

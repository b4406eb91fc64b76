"""Render attributions: map overlay, selected regions in order, curves.

Public signature (stable)::

    render_attribution(expl, img, out_file) -> list[str]
    # expl = dict(type='attribution', map=(H, W), method=str,
    #             order=(k,) optional, masks=(m, H, W) optional,
    #             insertion=(S + 1,), deletion=(S + 1,),
    #             insertion_auc=float, deletion_auc=float, title=str)
    curve_plot(curves, labels, colors, size=(240, 320), title='') -> RGB

Registered as the ``'attribution'`` renderer of
:func:`mmfg.visualization.render_explanation`. ``out_file`` ``x.png`` gives
``x.png`` (image | map overlay), ``x_regions.png`` (the first selected
regions, cumulative, in selection order; SMDL only) and ``x_curves.png``
(insertion and deletion curves with their AUCs).
"""
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .explanation import EXPLANATION_RENDERERS
from .prototypes import _GREEN, _RED, _grid, _write_png, heatmap_overlay

__all__ = ['render_attribution', 'curve_plot']


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def _title(panel: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((16, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, panel], 0)


def curve_plot(curves: Sequence[np.ndarray],
               labels: Sequence[str],
               colors: Sequence[Tuple[int, int, int]],
               size: Tuple[int, int] = (240, 320),
               title: str = '') -> np.ndarray:
    """Curves on ``[0, 1] x [0, 1]`` (fraction revealed vs probability).

    Args:
        curves (Sequence[np.ndarray]): each ``(S + 1,)`` in ``[0, 1]``.
        labels (Sequence[str]): legend entries.
        colors (Sequence[tuple]): RGB colours.
        size (tuple[int, int]): ``(height, width)`` of the plot.
        title (str): text above the plot.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    h, w = size
    img = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = 34, 10, w - 8, h - 24
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    for v in (0., 0.5, 1.):
        y = int(round(y1 - v * (y1 - y0)))
        cv2.putText(img, f'{v:.1f}', (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (0, 0, 0), 1, cv2.LINE_AA)
        x = int(round(x0 + v * (x1 - x0)))
        cv2.putText(img, f'{v:.1f}', (x - 8, h - 10),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for j, (c, lab, col) in enumerate(zip(curves, labels, colors)):
        c = np.clip(_np(c).reshape(-1), 0, 1)
        xs = np.linspace(x0, x1, len(c))
        ys = y1 - c * (y1 - y0)
        pts = np.stack([xs, ys], 1).round().astype(np.int32)
        cv2.polylines(img, [pts], False, col, 2, cv2.LINE_AA)
        cv2.putText(img, lab, (x0 + 6, y0 + 14 + 14 * j),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, col, 1, cv2.LINE_AA)
    return _title(img, title) if title else img


def _regions_panels(img: np.ndarray, masks: np.ndarray, order: np.ndarray,
                    max_panels: int = 8) -> np.ndarray:
    """The image revealed region by region (cumulative), selection order."""
    shown = np.zeros(img.shape[:2], bool)
    k = len(order)
    picks = sorted(set(np.linspace(1, k, min(k, max_panels)).round().astype(
        int).tolist()))
    panels = []
    for t in range(1, k + 1):
        shown |= masks[order[t - 1]].astype(bool)
        if t not in picks:
            continue
        p = np.where(shown[..., None], img, (img * 0.15).astype(np.uint8))
        p = np.ascontiguousarray(p)
        contours = cv2.findContours(
            masks[order[t - 1]].astype(np.uint8), cv2.RETR_EXTERNAL,
            cv2.CHAIN_APPROX_SIMPLE)[0]
        cv2.drawContours(p, contours, -1, _RED, 1)
        panels.append(_title(p, f'top {t}/{k}'))
    return _grid([panels])


def render_attribution(expl: Dict[str, Any], img: np.ndarray,
                       out_file: str) -> List[str]:
    """Write the attribution PNGs (see the module docstring).

    Args:
        expl (dict): ``map (H, W)``, ``method``, optional ``order`` and
            ``masks`` (SMDL), ``insertion`` / ``deletion`` curves and AUCs,
            ``title``.
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB as the model saw it.
        out_file (str): the main PNG path.

    Returns:
        list[str]: the written files.
    """
    h, w = img.shape[:2]
    heat = _np(expl['map']).astype(np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    main = _grid([[
        _title(np.ascontiguousarray(img), 'input'),
        _title(heatmap_overlay(img, heat), str(expl.get('method', '')))
    ]])
    if expl.get('title'):
        main = _title(main, str(expl['title']))
    written = [_write_png(out_file, main)]
    stem = osp.splitext(out_file)[0]
    if expl.get('order') is not None and expl.get('masks') is not None:
        written.append(
            _write_png(
                stem + '_regions.png',
                _regions_panels(img, _np(expl['masks']),
                                _np(expl['order']).astype(int))))
    if expl.get('insertion') is not None:
        ins, dele = _np(expl['insertion']), _np(expl['deletion'])
        labels = [
            f'insertion AUC {float(expl.get("insertion_auc", 0)):.3f}',
            f'deletion AUC {float(expl.get("deletion_auc", 0)):.3f}'
        ]
        written.append(
            _write_png(
                stem + '_curves.png',
                curve_plot([ins, dele], labels, [_GREEN, _RED],
                           title=f'{expl.get("method", "")}: target '
                           'probability vs fraction revealed / removed')))
    return written


EXPLANATION_RENDERERS['attribution'] = render_attribution

"""Rendering of prototype galleries and "this looks like that" explanations.

- :func:`save_prototype_gallery`: after a push, one PNG grid per class (a row
  per prototype: source image with receptive-field and high-activation
  boxes, activation overlay, high-activation crop) and ``prototypes.json``
  with every prototype's source and boxes.
- :func:`render_prototype_explanation`: renders the dict a prototype head's
  ``explain`` returns (types ``'protopnet'`` and ``'st_protopnet'``,
  registered in :data:`~mmfg.visualization.EXPLANATION_RENDERERS`).

The geometry (upsampling, boxes) comes from :mod:`mmfg.explain.prototypes`;
this module only draws and writes files.
"""
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np

from mmfg.explain.prototypes import upsample_activation
from .explanation import EXPLANATION_RENDERERS

__all__ = [
    'heatmap_overlay', 'save_prototype_gallery',
    'render_prototype_explanation', 'jsonable_explanation'
]

_GREEN = (40, 200, 40)
_RED = (230, 40, 40)
_WHITE = (255, 255, 255)
_GREY = (128, 128, 128)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def heatmap_overlay(img: np.ndarray, heat: np.ndarray,
                    alpha: float = 0.5) -> np.ndarray:
    """Blend a heatmap (jet colours) over an RGB image.

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        heat (np.ndarray): ``(H, W)`` float (min-max normalised here).
        alpha (float): heatmap opacity.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    h = heat.astype(np.float32)
    h = (h - h.min()) / max(float(h.max() - h.min()), 1e-12)
    jet = cv2.applyColorMap(np.uint8(255 * h), cv2.COLORMAP_JET)[..., ::-1]
    out = (1 - alpha) * img.astype(np.float32) + alpha * jet
    return np.clip(out, 0, 255).astype(np.uint8)


def _box(img: np.ndarray, box: Optional[Sequence[float]], color,
         thickness: int = 1) -> None:
    if box is None:
        return
    x1, y1, x2, y2 = [int(round(v)) for v in box]
    cv2.rectangle(img, (x1, y1), (max(x2 - 1, x1), max(y2 - 1, y1)), color,
                  thickness)


def _crop(img: np.ndarray, box: Optional[Sequence[float]],
          size: Sequence[int]) -> np.ndarray:
    """Crop ``box`` (clipped) and resize it to ``size = (H, W)``."""
    H, W = img.shape[:2]
    if box is None:
        return np.full((size[0], size[1], 3), 200, np.uint8)
    x1, y1, x2, y2 = [int(round(v)) for v in box]
    x1, y1 = max(0, min(x1, W - 1)), max(0, min(y1, H - 1))
    x2, y2 = max(x1 + 1, min(x2, W)), max(y1 + 1, min(y2, H))
    patch = img[y1:y2, x1:x2]
    return cv2.resize(patch, (size[1], size[0]),
                      interpolation=cv2.INTER_LINEAR)


def _text_panel(lines: List[str], size: Sequence[int]) -> np.ndarray:
    panel = np.full((size[0], size[1], 3), 255, np.uint8)
    scale = max(0.3, min(size[0], size[1]) / 400.)
    step = int(22 * scale / 0.5)
    for i, line in enumerate(lines):
        cv2.putText(panel, line, (4, (i + 1) * step), _FONT, scale, (0, 0, 0),
                    1, cv2.LINE_AA)
    return panel


def _write_png(path: str, rgb: np.ndarray) -> str:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f'Could not write image "{path}"')
    return path


def _grid(rows: List[List[np.ndarray]], pad: int = 4) -> np.ndarray:
    """Stack rows of equally tall panels with white padding."""
    lines = []
    width = 0
    for row in rows:
        h = max(p.shape[0] for p in row)
        parts = []
        for p in row:
            if p.shape[0] != h:
                p = np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)),
                           constant_values=255)
            parts += [p, np.full((h, pad, 3), 255, np.uint8)]
        line = np.concatenate(parts, 1)
        width = max(width, line.shape[1])
        lines.append(line)
    out = []
    for line in lines:
        if line.shape[1] < width:
            line = np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)),
                          constant_values=255)
        out += [line, np.full((pad, width, 3), 255, np.uint8)]
    return np.concatenate(out, 0)


def save_prototype_gallery(records: Dict[str, Any],
                           get_image: Callable[[int], np.ndarray],
                           out_dir: str,
                           act_maps: Optional[Dict[str, np.ndarray]] = None,
                           class_names: Optional[Sequence[str]] = None,
                           max_classes: Optional[int] = None) -> List[str]:
    """Write the prototype gallery of a push.

    Args:
        records (dict): ``push_prototypes(...)['records']``
            (``branches`` → per-prototype dicts with ``img_idx``,
            ``rf_box``, ``hact_box``, ``location``...).
        get_image (Callable[[int], np.ndarray]): dataset index → the push
            image as the model saw it, ``(H, W, 3)`` uint8 RGB.
        out_dir (str): output folder (created).
        act_maps (dict, optional): branch → ``(P, h, w)`` activation maps of
            each prototype on its source image (adds the overlay panel).
        class_names (Sequence[str], optional): for titles and the JSON.
        max_classes (int, optional): PNGs for the first classes only.

    Returns:
        list[str]: written files (the JSON first).
    """
    os.makedirs(out_dir, exist_ok=True)
    written = []
    js = dict(records)
    if class_names is not None:
        js['class_names'] = list(class_names)
    json_path = osp.join(out_dir, 'prototypes.json')
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(js, f, indent=1)
    written.append(json_path)

    cache: Dict[int, np.ndarray] = {}

    def image(i: int) -> np.ndarray:
        if i not in cache:
            cache[i] = get_image(i)
        return cache[i]

    by_class: Dict[int, List] = {}
    for name, recs in records['branches'].items():
        for r in recs:
            by_class.setdefault(r['class'], []).append((name, r))
    classes = sorted(by_class)
    if max_classes is not None:
        classes = classes[:max_classes]
    for c in classes:
        rows = []
        for name, r in by_class[c]:
            if not (r['pushed'] and r['valid']):
                continue
            img = image(r['img_idx'])
            H, W = img.shape[:2]
            src = img.copy()
            _box(src, r['rf_box'], _GREEN)
            _box(src, r['hact_box'], _RED)
            x, y = r['location']
            cv2.circle(src, (int(x), int(y)), 2, _RED, -1)
            panels = [src]
            if act_maps is not None and name in act_maps:
                up = upsample_activation(act_maps[name][r['prototype']],
                                         (H, W))
                panels.append(heatmap_overlay(img, up))
            panels.append(_crop(img, r['hact_box'], (H, W)))
            score = r.get('distance', r.get('similarity'))
            kind = 'd' if 'distance' in r else 's'
            panels.append(
                _text_panel([
                    f'{name + " " if name else ""}p{r["prototype"]}',
                    f'img {r["img_idx"]}', f'{kind}={score:.3g}',
                    f'pos {r["latent_pos"]}'
                ], (H, max(W, 90))))
            rows.append(panels)
        if not rows:
            continue
        title = class_names[c] if class_names is not None and \
            c < len(class_names) else f'class {c}'
        grid = _grid(rows)
        header = _text_panel([f'{c}: {title}'], (24, grid.shape[1]))
        written.append(
            _write_png(
                osp.join(out_dir, f'class_{c:03d}.png'),
                np.concatenate([header, grid], 0)))
    return written


def jsonable_explanation(expl: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of an explanation without numpy arrays (heatmaps dropped,
    numpy scalars converted)."""

    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()
                    if not isinstance(x, np.ndarray)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        return v

    return conv(expl)


def _source_patch(src: Optional[Dict[str, Any]],
                  size: Sequence[int]) -> np.ndarray:
    """The prototype's source patch, cut from the original source image."""
    if not src or not src.get('img_path') or not osp.isfile(src['img_path']):
        panel = np.full((size[0], size[1], 3), 200, np.uint8)
        cv2.putText(panel, 'no source', (4, size[0] // 2), _FONT, 0.35,
                    (0, 0, 0), 1, cv2.LINE_AA)
        return panel
    img = cv2.imread(src['img_path'], cv2.IMREAD_COLOR)
    if img is None:
        return np.full((size[0], size[1], 3), 200, np.uint8)
    img = img[..., ::-1]
    box = src.get('hact_box_ori') or src.get('hact_box')
    return _crop(img, box, size)


def _titled(line: str, name: Optional[str], width: int) -> np.ndarray:
    """A title panel: ``line``, then the class ``name`` (if any) below."""
    lines = [line] + ([f'  {name}'] if name else [])
    return _text_panel(lines, (20 if len(lines) == 1 else 32, width))


def render_prototype_explanation(expl: Dict[str, Any], img: np.ndarray,
                                 out_file: str) -> str:
    """Render a ProtoPNet / ST-ProtoPNet explanation as one PNG.

    A header (prediction, column titles), then one block per explained
    class (title: class, logit, probability), one row per prototype: the
    test image with the activation overlay and the high-activation box
    ("where"), the test patch ("this"), the prototype's source patch cut
    from its source image ("looks like that"), and the numbers (similarity,
    class weight, contribution to the logit).

    Args:
        expl (dict): one element of ``head.explain(...)``.
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB, the image as the model
            saw it.
        out_file (str): PNG path.

    Returns:
        str: ``out_file``.
    """
    H, W = img.shape[:2]
    rows: List[List[np.ndarray]] = []
    for cls in expl['classes']:
        rows.append([
            _titled(
                f'class {cls["class"]}: logit {cls["logit"]:.3f}, '
                f'p={cls["score"]:.3f}', cls.get('name'), 4 * W)
        ])
        for p in cls['prototypes']:
            heat = p.get('heatmap')
            test = heatmap_overlay(img, heat) if heat is not None \
                else img.copy()
            _box(test, p['patch_box'], _RED)
            _box(test, p['rf_box'], _GREEN)
            tag = f'{p["branch"]} ' if p.get('branch') else ''
            rows.append([
                test,
                _crop(img, p['patch_box'], (H, W)),
                _source_patch(p.get('source'), (H, W)),
                _text_panel([
                    f'{tag}proto {p["index"]} (class '
                    f'{p["prototype_class"]})',
                    f'similarity {p["similarity"]:.3f}',
                    f'weight {p["weight"]:.3f}',
                    f'contribution {p["contribution"]:.3f}'
                ], (H, W))
            ])
    head = _titled(
        f'{expl.get("type", "")}: predicted {expl.get("pred_label")}'
        + (f', label {expl["gt_label"]}'
           if expl.get('gt_label') is not None else ''),
        expl.get('pred_name'), 4 * W)
    columns = [
        _text_panel([t], (16, W))
        for t in ('where', 'this', 'looks like that', 'scores')
    ]
    grid = _grid([[head], columns] + rows)
    return _write_png(out_file, grid)


EXPLANATION_RENDERERS['protopnet'] = render_prototype_explanation
EXPLANATION_RENDERERS['st_protopnet'] = render_prototype_explanation

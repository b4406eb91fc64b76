"""Render ProtoTree explanations: the global tree and local decision paths.

- :func:`render_tree` writes the whole (pruned, projected) tree as a
  self-contained SVG (node prototype patches embedded, leaves with their
  class distributions), an HTML page around it, the Graphviz ``.dot`` text
  with the node patches as PNG files and a JSON description; when the
  Graphviz ``dot`` program is on PATH it also renders the ``.dot`` file to
  SVG and PNG.
- :func:`render_prototree_explanation` draws one image's decision path
  (each node's prototype patch beside the matching image patch, the
  similarity and the direction taken, then the reached leaf's classes). It
  is registered as the renderer of ``'prototree'`` explanations
  (:data:`mmfg.visualization.EXPLANATION_RENDERERS`).

Only numpy and Pillow are needed.
"""
import base64
import html
import io
import json
import os
import os.path as osp
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from .explanation import EXPLANATION_RENDERERS

__all__ = [
    'render_tree', 'tree_to_dot', 'tree_to_svg', 'tree_layout',
    'render_prototree_explanation'
]

_NODE = 72  # node patch side in the SVG (px)
_LEAF_W, _LEAF_H = 150, 64
_COL = 162  # horizontal slot per leaf
_ROW = 120  # vertical distance between depths


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format='PNG')
    return buf.getvalue()


def _data_uri(arr: np.ndarray) -> str:
    return 'data:image/png;base64,' + base64.b64encode(
        _png_bytes(arr)).decode('ascii')


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _children(desc: dict, code) -> List[list]:
    if code[0] == 'leaf':
        return []
    n = desc['nodes'][code[1]]
    return [n['left'], n['right']]


def tree_layout(desc: dict) -> Dict[Tuple[str, int], Tuple[float, float]]:
    """Positions of every node and leaf (tidy layout: leaves on a row per
    depth, left to right; a node centred over its children; trees side by
    side).

    Args:
        desc (dict): from :func:`mmfg.explain.prototree.tree_description`.

    Returns:
        dict: ``('node'|'leaf', index) -> (x, y)`` centre in pixels.
    """
    pos: Dict[Tuple[str, int], Tuple[float, float]] = {}
    slot = [0]

    def place(code, depth: int) -> float:
        key = (code[0], int(code[1]))
        kids = _children(desc, code)
        if not kids:
            x = slot[0] * _COL + _COL / 2
            slot[0] += 1
        else:
            xs = [place(k, depth + 1) for k in kids]
            x = sum(xs) / 2
        pos[key] = (x, depth * _ROW + _NODE / 2 + 30)
        return x

    for root in desc['roots']:
        place(root, 0)
        slot[0] += 1  # gap between trees
    return pos


def _short(c: dict, n: int = 16) -> str:
    """``<class index>:<name>`` in at most ``n`` characters.

    A long name loses its middle (``6:Yellow~Sicklebill``): fine-grained
    class names often share a long prefix (SynthBirds) or suffix (CUB's
    ``..._Albatross``), so both ends are kept, and the index keeps classes
    apart when they still look alike. Full names are in the SVG tooltips.
    """
    name, prefix = c['name'], ''
    if name != str(c['class']):
        prefix = f"{c['class']}:"
    budget = n - len(prefix)
    if len(name) > budget:
        head = max((budget - 1) // 2, 0)
        name = name[:head] + '~' + name[len(name) - (budget - 1 - head):]
    return prefix + name


def _leaf_label(leaf: dict) -> str:
    return '\n'.join(f"{_short(c)} {c['prob']:.2f}" for c in leaf['topk'])


def tree_to_svg(desc: dict) -> str:
    """The tree as a standalone SVG document.

    Internal nodes show their prototype's source patch (or their index when
    not projected); the right edge ("present") is solid, the left edge
    ("absent") dashed; leaves list their top classes with probability bars.

    Args:
        desc (dict): from :func:`mmfg.explain.prototree.tree_description`.

    Returns:
        str: SVG text.
    """
    pos = tree_layout(desc)
    width = max([x for x, _ in pos.values()] + [0]) + _COL
    height = max([y for _, y in pos.values()] + [0]) + _LEAF_H + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        'font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>'
    ]
    # edges first
    for n in desc['nodes']:
        x0, y0 = pos[('node', n['id'])]
        for side in ('left', 'right'):
            c = n[side]
            x1, y1 = pos[(c[0], int(c[1]))]
            dash = '' if side == 'right' else ' stroke-dasharray="5,4"'
            label = 'present' if side == 'right' else 'absent'
            out.append(f'<line x1="{x0:.1f}" y1="{y0 + _NODE / 2:.1f}" '
                       f'x2="{x1:.1f}" y2="{y1 - _NODE / 2:.1f}" '
                       f'stroke="#555"{dash}><title>{label}</title></line>')
    patches = desc.get('patches')
    for n in desc['nodes']:
        x, y = pos[('node', n['id'])]
        x0, y0 = x - _NODE / 2, y - _NODE / 2
        title = html.escape(
            f"node {n['id']} (tree {n['tree']}, depth {n['depth']})" +
            (f"; source image {n['source'][0]} at latent "
             f"({n['source'][1]}, {n['source'][2]})" if n['source'] else
             '; not projected'))
        out.append(f'<g><title>{title}</title>')
        if n['has_patch'] and patches is not None and patches.shape[1]:
            out.append(f'<image x="{x0:.1f}" y="{y0:.1f}" width="{_NODE}" '
                       f'height="{_NODE}" xlink:href="'
                       f'{_data_uri(patches[n["id"]])}"/>')
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{_NODE}" '
                       f'height="{_NODE}" fill="none" stroke="#1f77b4" '
                       'stroke-width="2"/>')
        else:
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{_NODE}" '
                       f'height="{_NODE}" fill="#eee" stroke="#1f77b4"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 - 4:.1f}" '
                   f'text-anchor="middle">{n["id"]}</text></g>')
    for leaf in desc['leaves']:
        key = ('leaf', leaf['id'])
        if key not in pos:
            continue
        x, y = pos[key]
        x0, y0 = x - _LEAF_W / 2, y - _NODE / 2
        full = html.escape('; '.join(f"{c['name']} {c['prob']:.3f}"
                                     for c in leaf['topk']))
        out.append(f'<g><title>leaf {leaf["id"]} (depth {leaf["depth"]}): '
                   f'{full}</title>')
        out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{_LEAF_W}" '
                   f'height="{_LEAF_H}" fill="#fff8e6" stroke="#d98c00"/>')
        for i, c in enumerate(leaf['topk']):
            ty = y0 + 14 + i * 16
            bar = max(c['prob'], 0) * (_LEAF_W - 8)
            out.append(f'<rect x="{x0 + 4:.1f}" y="{ty - 10:.1f}" '
                       f'width="{bar:.1f}" height="13" fill="#ffd27f"/>')
            name = html.escape(_short(c, 20))
            out.append(f'<text x="{x0 + 6:.1f}" y="{ty:.1f}">{name} '
                       f'{c["prob"]:.2f}</text>')
        out.append('</g>')
    out.append('</svg>')
    return '\n'.join(out)


def tree_to_dot(desc: dict, patch_dir: Optional[str] = None) -> str:
    """The tree in Graphviz ``dot`` syntax.

    Args:
        desc (dict): from :func:`mmfg.explain.prototree.tree_description`.
        patch_dir (str, optional): folder (relative to the ``.dot`` file)
            holding ``node_<i>.png``; nodes with a patch show it.

    Returns:
        str: ``digraph`` text.
    """
    lines = [
        'digraph ProtoTree {', '  rankdir=TB;',
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];'
    ]
    for n in desc['nodes']:
        if n['has_patch'] and patch_dir is not None:
            img = osp.join(patch_dir, f"node_{n['id']}.png")
            lines.append(f'  n{n["id"]} [shape=box, label="", '
                         f'image="{img}", xlabel="{n["id"]}"];')
        else:
            lines.append(f'  n{n["id"]} [shape=box, label="node '
                         f'{n["id"]}"];')
    for leaf in desc['leaves']:
        label = _leaf_label(leaf).replace('"', "'").replace('\n', '\\n')
        lines.append(f'  l{leaf["id"]} [shape=note, style=filled, '
                     f'fillcolor="#fff8e6", label="{label}"];')
    for n in desc['nodes']:
        for side in ('left', 'right'):
            c = n[side]
            dst = f'n{c[1]}' if c[0] == 'node' else f'l{c[1]}'
            style = 'solid, label="present"' if side == 'right' else \
                'dashed, label="absent"'
            lines.append(f'  n{n["id"]} -> {dst} [style={style}];')
    lines.append('}')
    return '\n'.join(lines)


_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ProtoTree</title>
<style>
body {{ font-family: sans-serif; margin: 12px; }}
#view {{ overflow: auto; border: 1px solid #ccc; height: 85vh; }}
#view svg {{ transform-origin: 0 0; }}
</style></head><body>
<h2>ProtoTree</h2>
<p>{summary}</p>
<p>Each internal node shows the training patch its prototype was projected
on. Solid edge (right): the prototype is present in the image
(similarity &gt; 0.5); dashed edge (left): absent. Leaves list their most
likely classes. <button onclick="zoom(1.25)">+</button>
<button onclick="zoom(0.8)">&minus;</button></p>
<div id="view">{svg}</div>
<script>
let s = 1;
function zoom(f) {{
  s *= f;
  document.querySelector('#view svg').style.transform = 'scale(' + s + ')';
}}
</script>
</body></html>
"""


def render_tree(head: nn.Module,
                out_dir: str,
                classes: Optional[Sequence[str]] = None,
                topk: int = 3,
                name: str = 'prototree',
                run_dot: bool = True) -> Dict[str, str]:
    """Write the global tree of a ProtoTree head.

    Args:
        head (ProtoTreeHead): the head.
        out_dir (str): output folder (created).
        classes (Sequence[str], optional): class names.
        topk (int): classes per leaf.
        name (str): file stem.
        run_dot (bool): render the ``.dot`` file with Graphviz when ``dot``
            is on PATH.

    Returns:
        dict[str, str]: written files by kind (``svg``, ``html``, ``dot``,
        ``json`` and, with Graphviz, ``dot_svg``, ``dot_png``).
    """
    from mmfg.explain.prototree import tree_description
    desc = tree_description(head, classes=classes, topk=topk)
    os.makedirs(out_dir, exist_ok=True)
    files = {}
    patch_dir = 'nodes'
    os.makedirs(osp.join(out_dir, patch_dir), exist_ok=True)
    for n in desc['nodes']:
        if n['has_patch']:
            Image.fromarray(desc['patches'][n['id']]).save(
                osp.join(out_dir, patch_dir, f"node_{n['id']}.png"))
    svg = tree_to_svg(desc)
    files['svg'] = osp.join(out_dir, f'{name}.svg')
    with open(files['svg'], 'w') as f:
        f.write(svg)
    summary = (f"{len(desc['nodes'])} prototypes, {len(desc['leaves'])} "
               f"leaves, {desc['num_trees']} tree(s), "
               f"{desc['num_classes']} classes.")
    files['html'] = osp.join(out_dir, f'{name}.html')
    with open(files['html'], 'w') as f:
        f.write(_HTML.format(summary=html.escape(summary), svg=svg))
    files['dot'] = osp.join(out_dir, f'{name}.dot')
    with open(files['dot'], 'w') as f:
        f.write(tree_to_dot(desc, patch_dir))
    files['json'] = osp.join(out_dir, f'{name}.json')
    with open(files['json'], 'w') as f:
        json.dump({k: v for k, v in desc.items() if k != 'patches'}, f)
    dot = shutil.which('dot') if run_dot else None
    if dot is not None:
        for fmt in ('svg', 'png'):
            dst = osp.join(out_dir, f'{name}_dot.{fmt}')
            proc = subprocess.run([dot, f'-T{fmt}', f'{name}.dot', '-o',
                                   osp.basename(dst)],
                                  cwd=out_dir, capture_output=True)
            if proc.returncode == 0:
                files[f'dot_{fmt}'] = dst
    return files


# ----------------------------------------------------------------------
# local explanation
# ----------------------------------------------------------------------
def _resize(arr: np.ndarray, size: Tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(arr)).resize(
        size, Image.BILINEAR)


def _overlay(img: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Image with a similarity heat map blended in (red = similar)."""
    from mmfg.explain.prototypes import upsample_activation
    H, W = img.shape[:2]
    up = upsample_activation(sim.astype(np.float32), (H, W))
    lo, hi = float(up.min()), float(up.max())
    a = (up - lo) / (hi - lo + 1e-12)
    heat = np.stack([a, 0.2 * a, 1 - a], -1) * 255
    return (0.6 * img + 0.4 * heat).clip(0, 255).astype(np.uint8)


def render_prototree_explanation(expl: dict, img: np.ndarray,
                                 out_file: str) -> str:
    """Draw one image's decision path through a ProtoTree.

    One row per decision: the node's prototype patch (from projection), the
    image with the matching region boxed and the similarity heat map, the
    crop of that region, and the similarity with the direction taken; then
    the reached leaf's top classes and the prediction.

    Args:
        expl (dict): from ``ProtoTreeHead.explain``.
        img (np.ndarray): ``(H, W, 3)`` uint8 RGB, the image as the model
            saw it.
        out_file (str): output image path (format from the extension).

    Returns:
        str: ``out_file``.
    """
    from mmfg.explain.prototypes import (high_activation_box,
                                         upsample_activation)
    th = 112
    font, small = _font(14), _font(12)
    H, W = img.shape[:2]
    classes = expl.get('classes')

    def cname(c: int) -> str:
        return str(classes[c]) if classes else str(c)

    rows = []
    for tree in expl['trees']:
        for step in tree['path']:
            rows.append((tree['tree'], step))
    n_trees = len(expl['trees'])
    gt = expl.get('gt_label')
    head_txt = (f"prediction: {cname(expl['pred_label'])} "
                f"(p={expl['pred_score']:.2f}, {expl['inference_mode']})"
                + (f'   ground truth: {cname(gt)}' if gt is not None else '')
                + f"   greedy path -> {cname(expl['greedy_label'])}")
    # wide enough for the header line (long class names would be cut off)
    width = max(20 + 4 * (th + 12) + 230,
                20 + int(np.ceil(font.getlength(head_txt))))
    height = 60 + len(rows) * (th + 16) + n_trees * 110 + 20
    canvas = Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 10), head_txt, fill='black', font=font)
    draw.text((10, 32), 'prototype patch | where it matches | matching '
              'patch | decision', fill='#555', font=small)
    y = 56
    for t, step in rows:
        x = 10
        patch = step.get('prototype_patch')
        if patch is not None:
            canvas.paste(_resize(patch, (th, th)), (x, y))
        else:
            draw.rectangle([x, y, x + th, y + th], fill='#eee',
                           outline='#999')
            draw.text((x + 8, y + th // 2 - 8), 'not projected',
                      fill='#777', font=small)
        x += th + 12
        sim = step['similarity_map']
        sim = np.asarray(sim, dtype=np.float32)
        over = _overlay(img, sim)
        box = step.get('box')
        if box is None or expl.get('img_shape') is None or \
                tuple(expl['img_shape']) != (H, W):
            up = upsample_activation(sim, (H, W))
            box = high_activation_box(up, 95.).tolist()
        ov = Image.fromarray(over)
        ImageDraw.Draw(ov).rectangle(
            [box[0], box[1], max(box[2] - 1, box[0]),
             max(box[3] - 1, box[1])],
            outline=(255, 255, 0),
            width=max(2, W // 100))
        canvas.paste(ov.resize((th, th), Image.BILINEAR), (x, y))
        x += th + 12
        x1, y1, x2, y2 = [int(v) for v in box]
        crop = img[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
        canvas.paste(_resize(crop, (th, th)), (x, y))
        x += th + 12
        present = step['direction'] == 'right'
        draw.text((x, y + 8), f"tree {t}, node {step['node']} "
                  f"(depth {step['depth']})", fill='black', font=small)
        draw.text((x, y + 30), f"similarity {step['similarity']:.3f}",
                  fill='black', font=font)
        draw.text((x, y + 54),
                  ('present -> right' if present else 'absent -> left'),
                  fill=(0, 128, 0) if present else (180, 0, 0), font=font)
        y += th + 16
    for tree in expl['trees']:
        leaf = tree['leaf']
        draw.text((10, y), f"tree {tree['tree']}: reached leaf "
                  f"{leaf['index']} (path length {leaf['depth']})",
                  fill='black', font=font)
        y += 22
        for c in leaf['topk'][:4]:
            bar = int(c['prob'] * 300)
            draw.rectangle([10, y, 10 + bar, y + 14], fill='#ffd27f')
            draw.text((14, y), f"{c['name']}  {c['prob']:.3f}",
                      fill='black', font=small)
            y += 18
        y += 16
    canvas = canvas.crop((0, 0, width, min(y + 10, height)))
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    canvas.save(out_file)
    return out_file


EXPLANATION_RENDERERS['prototree'] = render_prototree_explanation

"""Sample images from an attribute CVAE and save them as a grid.

One row per attribute vector, ``--num-samples`` columns. Vectors come from
class-level attributes (``--classes``) and/or named edits of a base vector
(``--attributes``, one comma-separated list per row; the base is
``--base-class`` or the mean over classes).

Examples::

    python projects/attr_cvae/tools/sample_grid.py CONFIG CKPT \
        --classes 0 1 2 --out grid.png
    python projects/attr_cvae/tools/sample_grid.py CONFIG CKPT --base-class 0 \
        --attributes has_crown_color::red has_crown_color::blue \
        "has_crown_color::black,has_wing_pattern::plain" --out crown.png
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__))))))

from mmengine.registry import init_default_scope  # noqa: E402

from mmfg.apis.inference import init_model  # noqa: E402
from projects.attr_cvae.attr_cvae.conditions import (  # noqa: E402
    edit_attributes, load_attribute_table)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--classes', type=int, nargs='*', default=[],
                   help='0-based classes whose class-level vector is a row')
    p.add_argument('--attributes', nargs='*', default=[],
                   help='rows of comma-separated attribute names to switch '
                   'on (e.g. has_crown_color::red)')
    p.add_argument('--base-class', type=int,
                   help='base vector of --attributes rows (default: mean)')
    p.add_argument('--num-samples', type=int, default=8)
    p.add_argument('--temperature', type=float, default=1.0)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--scale', type=int, default=2,
                   help='nearest-neighbour upscaling of the saved grid')
    p.add_argument('--out', default='cvae_grid.png')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def conditions(args, names, table):
    """The ``(N, A)`` vectors and a label per row."""
    rows, labels = [], []
    for c in args.classes:
        if not 0 <= c < len(table):
            raise SystemExit(f'--classes: {c} is not in 0..{len(table) - 1}.')
        rows.append(table[c])
        labels.append(f'class {c}')
    base = table.mean(0) if args.base_class is None else \
        table[args.base_class]
    for spec in args.attributes:
        rows.append(edit_attributes(base, names, spec.split(',')))
        labels.append(spec)
    if not rows:
        raise SystemExit('Give --classes and/or --attributes.')
    return np.stack(rows).astype(np.float32), labels


def main(argv=None):
    args = parse_args(argv)
    model = init_model(args.config, args.checkpoint, device=args.device)
    init_default_scope(model.cfg.get('default_scope', 'mmfg'))
    names, table, _ = load_attribute_table(model.cfg)
    y, labels = conditions(args, names, table)
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    imgs = model.sample(
        torch.from_numpy(y), args.num_samples, args.temperature, gen)
    n, k, _, h, w = imgs.shape
    pad = 2
    grid = torch.ones(3, n * (h + pad) + pad, k * (w + pad) + pad)
    for i in range(n):
        for j in range(k):
            top, left = pad + i * (h + pad), pad + j * (w + pad)
            grid[:, top:top + h, left:left + w] = imgs[i, j].cpu()
    grid = grid.repeat_interleave(args.scale, 1).repeat_interleave(
        args.scale, 2)
    out = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    import cv2
    cv2.imwrite(args.out, cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    print(json.dumps(dict(out=args.out, rows=labels, samples=k)))


if __name__ == '__main__':
    main()

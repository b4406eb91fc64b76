"""Benchmark the vectorised WSOL tau sweep against the per-threshold cv2 loop.

Both extract the boxes of a whole tau sweep (``np.arange(0, 1, 0.001)``) of
realistic localisation maps (bicubic upsampled coarse maps, as CAMs are), in
the largest-contour (MaxBoxAcc) and all-contour (MaxBoxAccV2) modes, and the
best IoU with the GT boxes at every tau. The reference is the protocol's
straightforward loop (``cv2.threshold`` + ``cv2.findContours`` per tau,
:func:`mmfg.explain.localization.reference_sweep_boxes`); the vectorised
path labels all distinct masks of a batch of maps at once in torch
(:func:`mmfg.explain.localization.sweep`). The two results are checked to be
identical before the times are printed.

Example::

    python tools/benchmarks/bench_wsol_sweep.py                  # CPU
    python tools/benchmarks/bench_wsol_sweep.py --device cuda --size 224 \\
        --num-maps 64
"""
import argparse

import cv2
import numpy as np
import torch

from mmfg.explain.localization import (box_iou_plus1, default_thresholds,
                                       image_chunks, normalize_map,
                                       quantize_map, reference_sweep_boxes,
                                       sweep, sweep_result_ious)
from mmfg.utils.benchmark import timed_call


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--size', type=int, default=112, help='map side (px)')
    p.add_argument('--coarse', type=int, default=7, help='CAM side')
    p.add_argument('--num-maps', type=int, default=8)
    p.add_argument('--interval', type=float, default=0.001)
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args()


def make_maps(n: int, size: int, coarse: int, seed: int):
    rng = np.random.default_rng(seed)
    qs, gts = [], []
    for _ in range(n):
        c = rng.random((coarse, coarse)).astype(np.float32)**3
        qs.append(quantize_map(normalize_map(c, (size, size))))
        x0, y0 = rng.integers(0, size // 2, 2)
        gts.append(np.array([[x0, y0, x0 + size // 3, y0 + size // 3]]))
    return qs, gts


def reference(qs, gts, taus):
    out = []
    for multi in (False, True):
        ious = np.zeros((len(qs), len(taus)), np.float32)
        for i, (q, g) in enumerate(zip(qs, gts)):
            boxes, idx = reference_sweep_boxes(q, taus, multi)
            iou = box_iou_plus1(torch.as_tensor(boxes),
                                torch.as_tensor(g)).amax(1).numpy()
            np.maximum.at(ious[i], idx, iou)
        out.append(ious)
    return out


def vectorised(qs, gts, taus, device, backend):
    lar = np.zeros((len(qs), len(taus)), np.float32)
    alls = np.zeros_like(lar)
    h, w = qs[0].shape
    for chunk in image_chunks(len(qs), h, w):
        res = sweep(qs[chunk], taus, device, backend)
        lar[chunk] = sweep_result_ious(res, gts[chunk], False).cpu().numpy()
        alls[chunk] = sweep_result_ious(res, gts[chunk], True).cpu().numpy()
    return [lar, alls]


def main():
    args = parse_args()
    cv2.setNumThreads(1)
    taus = default_thresholds(args.interval)
    qs, gts = make_maps(args.num_maps, args.size, args.coarse, args.seed)
    ref, t_ref = timed_call(lambda: reference(qs, gts, taus), args.device)
    print(f'{args.num_maps} maps {args.size}x{args.size}, {len(taus)} '
          f'thresholds, largest + all contours, device {args.device}')
    print(f'  per-threshold cv2 loop : {t_ref * 1000 / args.num_maps:8.1f} '
          'ms/map')
    for backend in ('cv2', 'torch'):
        if backend == 'cv2' and not args.device.startswith('cpu'):
            continue
        vectorised(qs[:1], gts[:1], taus, args.device, backend)  # warm-up
        vec, t_vec = timed_call(
            lambda: vectorised(qs, gts, taus, args.device, backend),
            args.device)
        for a, b in zip(ref, vec):
            np.testing.assert_array_equal(a, b)
        name = {'cv2': 'cv2 per distinct mask', 'torch': 'torch union-find'}
        print(f'  {name[backend]:22s} : {t_vec * 1000 / args.num_maps:8.1f} '
              f'ms/map   speed-up {t_ref / t_vec:6.2f}x  '
              '(identical IoUs checked)')


if __name__ == '__main__':
    main()

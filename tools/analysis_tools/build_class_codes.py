"""Build a class similarity matrix and target-embedding codes.

The similarity matrix comes either from a trained classifier (row ``c`` =
mean ``pred_score`` over the images of class ``c`` of a dataset split) or
from a confusion matrix file (rows = true class, normalised to sum 1); it is
symmetrised, ``(M + M^T) / 2``. With ``--dims d`` the normalised
eigen-representation codes ``(C, d)`` are written as well.

Examples:
    # from a trained model's outputs on the training split
    python tools/analysis_tools/build_class_codes.py \\
        --config configs/baseline/resnet50_cub.py --checkpoint epoch_100.pth \\
        --split train --dims 64 --out work_dirs/cub_codes.npz

    # from a confusion matrix (.npy, or text: one row per line)
    python tools/analysis_tools/build_class_codes.py \\
        --confusion confusion.txt --num-classes 200 --dims 64 \\
        --out work_dirs/cub_codes.npz

Output (``.npz``; format in :mod:`mmfg.models.utils.class_codes`):
``similarity (C, C)``, and with ``--dims`` ``codes (C, d)`` and
``eigenvalues (d,)``; ``classes (C,)`` when the dataset names them. Use it
in a config with ``codes=dict(type='eigen', file=...)`` (codes recomputed
for the head's ``embed_dims``) or ``codes=dict(type='file', file=...)``.
"""
import argparse
import copy
import os
import os.path as osp
import sys

import numpy as np
import torch

from mmfg.models.utils.class_codes import (eigen_codes, save_codes_file,
                                           similarity_from_confusion,
                                           similarity_from_scores)
from mmfg.utils.errors import ConfigError, DatasetNotFoundError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--confusion', help='confusion matrix (.npy / text)')
    src.add_argument('--config', help='config of a trained classifier')
    p.add_argument('--checkpoint', help='checkpoint (with --config)')
    p.add_argument('--split', default='train',
                   help='dataset split scored with --config (default train)')
    p.add_argument('--num-classes', type=int,
                   help='expected number of classes (checked)')
    p.add_argument('--dims', type=int, help='also write d-dim eigen codes')
    p.add_argument('--out', required=True, help='output .npz')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def read_matrix(path: str) -> np.ndarray:
    """A ``(C, C)`` matrix from ``.npy`` or a text file (whitespace or
    comma separated, one row per line)."""
    if not osp.isfile(path):
        raise DatasetNotFoundError(path, 'confusion matrix',
                                   'Pass an existing .npy or text file.')
    try:
        if path.endswith('.npy'):
            m = np.load(path, allow_pickle=False)
        else:
            with open(path) as f:
                text = f.read().replace(',', ' ')
            rows = [line.split() for line in text.splitlines()
                    if line.strip()]
            lengths = {len(r) for r in rows}
            if len(lengths) != 1:
                raise ConfigError(
                    f'{path}: rows have different lengths {sorted(lengths)};'
                    ' expected a square matrix, one row per line.')
            m = np.array(rows, dtype=np.float64)
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f'{path}: cannot parse a numeric matrix ({e}).') \
            from None
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ConfigError(f'{path}: expected a square (C, C) confusion '
                          f'matrix, got shape {m.shape}.')
    return m


@torch.no_grad()
def model_scores(config: str, checkpoint: str, split: str, device: str):
    """``pred_score (N, C)``, ``gt_label (N,)`` and the class names of a
    trained model on a split of its config's test dataset."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from mmfg.apis import init_model
    cfg = Config.fromfile(config)
    model = init_model(cfg, checkpoint, device=device)
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg.dataset.split = split
    loader_cfg.num_workers = 0
    loader_cfg.persistent_workers = False
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmfg')):
        loader = Runner.build_dataloader(loader_cfg)
    scores, labels = [], []
    for data in loader:
        for ds in model.test_step(data):
            scores.append(ds.pred_score.float().cpu())
            labels.append(ds.gt_label.cpu())
    classes = loader.dataset.metainfo.get('classes')
    return torch.stack(scores), torch.cat(labels), classes


def main(argv=None):
    args = parse_args(argv)
    classes = None
    if args.confusion:
        sim = similarity_from_confusion(read_matrix(args.confusion))
        source = args.confusion
    else:
        if not args.checkpoint:
            raise ConfigError('build_class_codes: --config needs '
                              '--checkpoint (the trained model).')
        scores, labels, classes = model_scores(args.config, args.checkpoint,
                                               args.split, args.device)
        C = scores.shape[1]
        if classes is not None and len(classes) != C:
            raise ConfigError(
                f'build_class_codes: the model scores {C} classes but the '
                f'{args.split} dataset of {args.config} has {len(classes)}. '
                'Use the checkpoint trained on this dataset (num_classes).')
        if int(labels.max()) >= C:
            raise ConfigError(
                f'build_class_codes: label {int(labels.max())} in the '
                f'{args.split} split, but the model scores only {C} classes.')
        sim = similarity_from_scores(scores, labels, C)
        source = f'{args.config} ({args.split}, {len(labels)} images)'
    C = sim.shape[0]
    if args.num_classes is not None and C != args.num_classes:
        raise ConfigError(
            f'build_class_codes: {source} gives {C} classes, but '
            f'--num-classes is {args.num_classes}.')
    codes = lam = None
    if args.dims is not None:
        codes, lam = eigen_codes(sim, args.dims, return_eigenvalues=True)
        codes, lam = codes.numpy(), lam.numpy()
    out = args.out if args.out.endswith('.npz') else args.out + '.npz'
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    save_codes_file(out, sim, codes, lam, classes)
    msg = f'{C} classes from {source}'
    if codes is not None:
        msg += f'; {args.dims}-d codes (eigenvalues {np.round(lam, 4)})'
    print(f'wrote {out}: {msg}')
    return out


def cli(argv=None) -> int:
    """Command-line entry: user errors print one line and return 1."""
    try:
        main(argv)
    except (ConfigError, DatasetNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(cli())

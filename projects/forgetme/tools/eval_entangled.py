"""Entangled-D / Entangled-S of a folder of edited images.

Scores edited images (``--edited``: a folder with the same file names, or
one of the dataset's own folders, e.g. ``background`` for the inpainted
references or ``original`` for "no edit") against a ForgetMe dataset's
originals and masks, through :class:`ForgetMeDataset` and the
:class:`Entangled` metric (batched).

Example::

    python projects/forgetme/tools/eval_entangled.py data/forgetme_synthbirds \
        --edited background
"""
import argparse
import json
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__))))))

from mmengine.registry import init_default_scope  # noqa: E402

from mmfg.registry import DATASETS, METRICS  # noqa: E402
from projects.forgetme.forgetme.creation import read_rgb  # noqa: E402
from projects.forgetme.forgetme.dataset import FOLDERS  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('data_root', help='ForgetMe dataset folder')
    p.add_argument('--edited', default='background',
                   help='folder of edited images, or one of the dataset '
                   f'folders {FOLDERS}')
    p.add_argument('--batch-size', type=int, default=32)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    init_default_scope('mmfg')
    edited_dir = osp.join(args.data_root, args.edited) \
        if args.edited in FOLDERS else args.edited
    dataset = DATASETS.build(
        dict(
            type='ForgetMeDataset',
            data_root=args.data_root,
            img_folder='original',
            pipeline=[
                dict(type='LoadForgetMeImages'),
                dict(type='PackForgetMeInputs')
            ]))
    metric = METRICS.build(dict(type='Entangled'))
    batch = []
    for i in range(len(dataset)):
        ds = dataset[i]['data_samples']
        path = osp.join(edited_dir, ds.name + '.png')
        if not osp.isfile(path):
            raise SystemExit(f'No edited image "{path}" for "{ds.name}".')
        ds.set_field(
            torch.from_numpy(read_rgb(path)).permute(2, 0, 1).contiguous(),
            'pred_img')
        batch.append(ds.to_dict())
        if len(batch) == args.batch_size or i == len(dataset) - 1:
            metric.process({}, batch)
            batch = []
    res = metric.evaluate(len(dataset))
    print(json.dumps(dict(edited=edited_dir, num_images=len(dataset),
                          **{k: round(v, 4) for k, v in res.items()})))


if __name__ == '__main__':
    main()

"""Export WSSS pseudo masks (MMSegmentation layout) and score their mIoU.

Example:
    python tools/analysis_tools/export_pseudo_masks.py \
        configs/bas/bas_r50_voc-wsss.py CKPT --out-dir work_dirs/voc_pseudo \
        --split train --eval

Writes ``OUT/SegmentationClassPseudo/<id>.png`` (VOC palette PNGs, 0 is
background) and ``OUT/ImageSets/Segmentation/<split>.txt``; ``--eval``
prints the mIoU against the split's ground-truth masks with
MMSegmentation's ``IoUMetric`` (needs ``requirements/seg.txt``). The data
root and split default to the config's ``test_dataloader.dataset``.
"""
import argparse
import json

from mmengine.config import DictAction

from mmfg.apis import init_model
from mmfg.apis.wsss import evaluate_pseudo_masks, export_pseudo_masks
from mmfg.registry import DATASETS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--data-root', help='VOC2012 folder override')
    parser.add_argument('--split', help='id list override (e.g. train)')
    parser.add_argument('--bg-threshold', type=float, default=0.25)
    parser.add_argument(
        '--scales', type=float, nargs='+', default=[1.0],
        help='test scales (summed maps)')
    parser.add_argument('--no-flip', action='store_true')
    parser.add_argument('--eval', action='store_true', help='print mIoU')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='full unpickling of the checkpoint (trusted files only)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        trust_checkpoint=args.trust_checkpoint)
    ds_cfg = dict(model.cfg.test_dataloader.dataset)
    ds_cfg.pop('pipeline', None)
    if args.data_root:
        ds_cfg['data_root'] = args.data_root
    if args.split:
        ds_cfg['split'] = args.split
    if args.eval:
        ds_cfg['require_mask'] = True
    dataset = DATASETS.build(ds_cfg)
    mask_dir = export_pseudo_masks(
        model,
        dataset,
        args.out_dir,
        bg_threshold=args.bg_threshold,
        scales=args.scales,
        flip=not args.no_flip)
    print(f'{len(dataset)} pseudo masks in {mask_dir}')
    if args.eval:
        print(json.dumps(evaluate_pseudo_masks(mask_dir, dataset)))


if __name__ == '__main__':
    main()

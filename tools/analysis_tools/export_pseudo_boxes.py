"""Export WSOL boxes as a COCO-format detection annotation file.

Example:
    python tools/analysis_tools/export_pseudo_boxes.py \\
        configs/cam/cam_r18_synthbirds.py work_dirs/cam/epoch_20.pth \\
        --out work_dirs/cam/pseudo_train.json --split train

The images are read with the config's test pipeline (so boxes map back to
the original pixels through its geometry); the split defaults to the
config's ``test_dataloader.dataset`` split. ``--threshold`` defaults to the
test ``LocalizationMetric``'s tau (a float, or the json a validation run
wrote). Train a detector on the file with
``configs/cam/faster-rcnn_r50_synthbirds-pseudo.py``.
"""
import argparse

from mmengine.config import DictAction
from mmengine.registry import DefaultScope

from mmfg.apis import init_model
from mmfg.apis.localization import export_pseudo_boxes
from mmfg.registry import DATASETS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output .json')
    parser.add_argument('--split', help='dataset split (e.g. train)')
    parser.add_argument('--threshold', type=float, help='tau in [0, 1)')
    parser.add_argument(
        '--multi-contour', action='store_true',
        help='one box per contour instead of the largest')
    parser.add_argument(
        '--index-names', action='store_true',
        help='name categories class_0, class_1, ... (for the example '
        'MMDetection config)')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='full unpickling of the checkpoint (trusted files only)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    if not args.out.endswith('.json'):
        raise SystemExit(f'--out must be a .json file, got "{args.out}".')
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        trust_checkpoint=args.trust_checkpoint)
    ds_cfg = dict(model.cfg.test_dataloader.dataset)
    if args.split:
        ds_cfg['split'] = args.split
    with DefaultScope.overwrite_default_scope(
            model.cfg.get('default_scope', 'mmfg')):
        dataset = DATASETS.build(ds_cfg)
    coco = export_pseudo_boxes(
        model,
        dataset,
        args.out,
        threshold=args.threshold,
        multi_contour=args.multi_contour,
        batch_size=args.batch_size,
        index_names=args.index_names)
    print(f'{len(coco["annotations"])} pseudo boxes for '
          f'{len(coco["images"])} images written to {args.out}')


if __name__ == '__main__':
    main()

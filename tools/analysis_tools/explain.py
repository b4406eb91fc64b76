"""Explain a prediction of an interpretable model.

Example:
    python tools/analysis_tools/explain.py CONFIG CKPT bird.jpg \
        --out-dir explanations/ --topk 3

Writes ``<image>_explanation.png`` (rendered explanation) and
``<image>_explanation.json`` (classes, prototypes, similarities, boxes...).
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmfg.apis import explain, init_model


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+', help='image file(s)')
    parser.add_argument('--out-dir', default='explanations')
    parser.add_argument(
        '--topk', type=int, default=None,
        help='number of classes/prototypes to show (head default if unset)')
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
    kwargs = {} if args.topk is None else dict(topk=args.topk)
    for img in args.images:
        explain(model, img, out_dir=args.out_dir, **kwargs)
        stem = osp.splitext(osp.basename(img))[0]
        print(f'{img}: {osp.join(args.out_dir, stem + "_explanation.png")}'
              f', {osp.join(args.out_dir, stem + "_explanation.json")}')


if __name__ == '__main__':
    main()

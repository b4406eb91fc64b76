"""Attribute a classifier's prediction (SMDL, Grad-CAM, occlusion ...).

Example:
    python tools/analysis_tools/attribute.py \
        configs/smdl/smdl_r18_synthbirds.py CKPT bird.jpg \
        --method smdl --out-dir attributions/

Writes, per image, ``<image>_<method>.png`` (input | attribution overlay),
``<image>_<method>_regions.png`` (SMDL: the image revealed region by region
in selection order), ``<image>_<method>_curves.png`` (insertion and deletion
curves with their AUCs) and ``<image>_<method>.json`` (target, prediction,
AUCs, curves, selected order). Settings come from the config's
``explain_cfg``; ``--explain-options`` overrides them
(e.g. ``partition.n_segments=36 lazy=True``).
"""
import argparse

from mmengine.config import DictAction

from mmfg.apis import attribute, init_model
from mmfg.explain.attribution import ATTRIBUTION_METHODS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+', help='image file(s)')
    parser.add_argument(
        '--method', choices=ATTRIBUTION_METHODS, default=None,
        help="attribution method (default: the config's explain_cfg)")
    parser.add_argument(
        '--target', type=int, default=None,
        help='explained class (default: the prediction)')
    parser.add_argument('--out-dir', default='attributions')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='full unpickling of the checkpoint (trusted files only)')
    parser.add_argument(
        '--explain-options', nargs='+', action=DictAction, default={},
        help='explain_cfg overrides, e.g. steps=64 partition.n_segments=36')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def _nested(opts: dict) -> dict:
    out: dict = {}
    for key, val in opts.items():
        cur = out
        parts = key.split('.')
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = val
    return out


def main():
    args = parse_args()
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        trust_checkpoint=args.trust_checkpoint)
    overrides = _nested(args.explain_options)
    base = dict(model.cfg.get('explain_cfg', None) or {})
    for key, val in list(overrides.items()):
        if isinstance(val, dict) and isinstance(base.get(key), dict):
            overrides[key] = {**base[key], **val}
    for img in args.images:
        out = attribute(model, img, method=args.method, target=args.target,
                        out_dir=args.out_dir, **overrides)
        print(f'{img}: {out["method"]} target {out["target"]} (pred '
              f'{out["pred_label"]}) insertion AUC '
              f'{out["insertion_auc"]:.4f} deletion AUC '
              f'{out["deletion_auc"]:.4f}')
        for f in out['files']:
            print(f'  {f}')


if __name__ == '__main__':
    main()

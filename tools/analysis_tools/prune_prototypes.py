"""Prune prototypes that are not class-specific (ProtoPNet, ST-ProtoPNet).

A prototype is pruned when fewer than ``--threshold`` of its ``--k`` nearest
training patches (one per image, all classes) come from its own class
(ProtoPNet: k=6, threshold=3). Pruned prototypes are switched off (no
contribution to the logits, zero last-layer weights); optionally the last
layer is then trained alone for a few passes.

Example:
    python tools/analysis_tools/prune_prototypes.py \\
        configs/protopnet/protopnet_r34_cub-cropped.py CKPT \\
        --out work_dirs/pruned.pth --last-layer-epochs 20

The push dataloader comes from the config (``push_dataloader``, or the
``dataloader`` of its ``PrototypePushHook``). Writes the pruned checkpoint
(a state dict) and a JSON report (``--report``, default next to ``--out``).
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmengine.runner.checkpoint import weights_to_cpu

from mmfg.apis import prepare_runtime, set_default_work_dir
from mmfg.utils.errors import ConfigError


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint to prune')
    p.add_argument('--out', required=True, help='pruned checkpoint path')
    p.add_argument('--k', type=int, default=6, help='nearest images')
    p.add_argument('--threshold', type=int, default=3,
                   help='minimum own-class neighbours to keep a prototype')
    p.add_argument('--last-layer-epochs', type=int, default=0,
                   help='last-layer-only passes after pruning')
    p.add_argument('--last-layer-lr', type=float, default=1e-4)
    p.add_argument('--report', help='JSON report path')
    p.add_argument('--work-dir', help='work dir for logs')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def push_loader_cfg(cfg: Config) -> dict:
    """The push dataloader config of a prototype-network config."""
    if cfg.get('push_dataloader') is not None:
        return cfg.push_dataloader
    for hook in cfg.get('custom_hooks') or []:
        if str(hook.get('type', '')).split('.')[-1] == 'PrototypePushHook':
            return hook['dataloader']
    raise ConfigError(
        'prune_prototypes: the config has no `push_dataloader` and no '
        'PrototypePushHook; add a push_dataloader (the training set with the '
        'test pipeline, shuffle=False).')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    set_default_work_dir(cfg, args.config, args.work_dir)
    prepare_runtime(cfg, 'none')
    # the checkpoint replaces every weight: skip pretrained initialisation
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    cfg.load_from = None
    cfg.resume = False
    runner = Runner.from_cfg(cfg)
    runner.load_checkpoint(args.checkpoint, map_location='cpu')

    from mmfg.engine.hooks.last_layer import train_last_layer
    from mmfg.engine.hooks.prune_hook import prune_prototypes
    loader = runner.build_dataloader(push_loader_cfg(cfg))
    report = prune_prototypes(runner.model, loader, args.k, args.threshold)
    for name, r in report.items():
        print(f'{name or "prototypes"}: pruned {len(r["pruned"])} '
              f'{r["pruned"]}, {r["remaining"]} remain')

    losses = []
    if args.last_layer_epochs > 0:
        runner._train_loop = runner.build_train_loop(runner._train_loop)
        runner.optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
        losses = train_last_layer(runner, args.last_layer_epochs,
                                  args.last_layer_lr, tag='prune')

    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(
        dict(
            state_dict=weights_to_cpu(runner.model.state_dict()),
            meta=dict(
                pruned_from=osp.abspath(args.checkpoint),
                prune=dict(k=args.k, threshold=args.threshold,
                           last_layer_epochs=args.last_layer_epochs))),
        args.out)
    report_path = args.report or osp.splitext(args.out)[0] + '_prune.json'
    with open(report_path, 'w') as f:
        json.dump(
            dict(k=args.k, threshold=args.threshold, branches=report,
                 last_layer_losses=losses), f, indent=1)
    print(f'pruned checkpoint: {args.out}\nreport: {report_path}')


if __name__ == '__main__':
    main()

"""Evaluate a checkpoint with MMEngine's Runner (mmfg + MMPretrain types)."""
import argparse
import contextlib
import copy
import os
import os.path as osp

import mmengine
from mmengine.config import Config, ConfigDict, DictAction

from mmfg.apis.localization import localization_metric_cfgs
from mmfg.apis.tools import (add_num_classes_check, build_runner,
                             explain_override_errors, fill_work_dir,
                             load_config, prepare_runtime,
                             set_default_work_dir)
from mmfg.utils import trusted_checkpoints


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs and results')
    parser.add_argument(
        '--out', help='dump predictions (.pkl) or metrics (.json/.yaml)')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out holds; default: pred for .pkl, metrics otherwise')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. "test_dataloader.batch_size=8"')
    parser.add_argument(
        '--show-dir', help='save images with predictions into this directory')
    parser.add_argument(
        '--show', action='store_true', help='show predictions in a window')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualise every N images')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='--show display time (s)')
    parser.add_argument(
        '--no-pin-memory', action='store_true', help='disable pin_memory')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation (flip by default, or the config\'s '
        '`tta_pipeline`/`tta_model`)')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint with full unpickling. Only for files you '
        'trust: a pickle can run arbitrary code')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _flip_tta_pipeline(test_pipeline):
    pipeline = copy.deepcopy(list(test_pipeline))
    pack = pipeline.pop()
    pipeline.append(
        dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='RandomFlip', prob=0.),
                dict(type='RandomFlip', prob=1.)
            ], [pack]]))
    return pipeline


def merge_args(cfg: Config, args) -> Config:
    set_default_work_dir(cfg, args.config, args.work_dir)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint "{args.checkpoint}" does not exist.')
    cfg.load_from = args.checkpoint
    # files a training run wrote to its work dir (e.g. the WSOL tau) are
    # read from the checkpoint's folder
    fill_work_dir(cfg, osp.dirname(osp.abspath(args.checkpoint)))

    # WSOL models: --show-dir writes mmfg's overlays (map, predicted and GT
    # boxes) only, not also MMPretrain's class-label drawing of each image
    wsol = bool(localization_metric_cfgs(cfg))
    if args.show or (args.show_dir and not wsol):
        hooks = cfg.setdefault('default_hooks', ConfigDict())
        vis = hooks.get('visualization') or dict(type='VisualizationHook')
        vis.update(
            enable=True, interval=args.interval, wait_time=args.wait_time)
        if args.show:
            vis['show'] = True
        if args.show_dir and not wsol:
            vis['out_dir'] = args.show_dir
        hooks['visualization'] = vis
    if args.show_dir:
        # WSOL overlays for models that set `loc_map` (a no-op otherwise)
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='LocalizationVisualizationHook',
                 out_dir=args.show_dir, interval=args.interval)
        ]

    if args.tta:
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            cfg.tta_pipeline = _flip_tta_pipeline(
                cfg.test_dataloader.dataset.pipeline)
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    if args.no_pin_memory:
        cfg.test_dataloader['pin_memory'] = False

    if args.out:
        item = args.out_item or ('pred' if args.out.endswith('.pkl') else
                                 'metrics')
        args.out_item = item
        if item == 'pred':
            evaluators = cfg.test_evaluator
            if isinstance(evaluators, dict):
                evaluators = [evaluators]
            evaluators = list(evaluators) + [
                dict(type='DumpResults', out_file_path=args.out)
            ]
            cfg.test_evaluator = evaluators

    cfg.launcher = args.launcher
    add_num_classes_check(cfg)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(load_config(args.config, args.cfg_options), args)
    prepare_runtime(cfg, args.launcher)
    trust = trusted_checkpoints(args.checkpoint) if args.trust_checkpoint \
        else contextlib.nullcontext()
    with explain_override_errors(cfg, args.cfg_options), trust:
        runner = build_runner(cfg)
        metrics = runner.test()
    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()

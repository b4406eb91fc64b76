"""Train a model with MMEngine's Runner (mmfg + MMPretrain types)."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from mmfg.apis.tools import (add_num_classes_check, build_runner,
                             explain_override_errors, fill_work_dir,
                             load_config, prepare_runtime,
                             set_default_work_dir)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a path, from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='mixed-precision training (GPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size '
        '(needs `auto_scale_lr.base_batch_size` in the config)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in all dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable persistent_workers in all dataloaders')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. "train_cfg.max_epochs=5"')
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


def merge_args(cfg: Config, args) -> Config:
    set_default_work_dir(cfg, args.config, args.work_dir)
    fill_work_dir(cfg, cfg.work_dir)

    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit(
                '--amp needs a CUDA GPU (MMEngine\'s AmpOptimWrapper). On a '
                'CPU, train in float32 (drop --amp).')
        opt = cfg.optim_wrapper
        if opt.get('type', 'OptimWrapper') not in ('OptimWrapper',
                                                   'AmpOptimWrapper'):
            raise SystemExit(
                f'--amp: the config uses optim_wrapper.type={opt.type!r}; '
                'set the AMP wrapper in the config yourself.')
        opt.type = 'AmpOptimWrapper'
        opt.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if not cfg.get('auto_scale_lr', {}).get('base_batch_size'):
            raise SystemExit(
                '--auto-scale-lr needs `auto_scale_lr = dict('
                'base_batch_size=N)` in the config.')
        cfg.auto_scale_lr.enable = True

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise SystemExit(f'--resume: checkpoint "{args.resume}" does '
                             'not exist.')
        cfg.resume = True
        cfg.load_from = args.resume

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader is None:
            continue
        if args.no_pin_memory:
            loader['pin_memory'] = False
        if args.no_persistent_workers:
            loader['persistent_workers'] = False

    cfg.launcher = args.launcher
    add_num_classes_check(cfg)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(load_config(args.config, args.cfg_options), args)
    prepare_runtime(cfg, args.launcher)
    with explain_override_errors(cfg, args.cfg_options):
        runner = build_runner(cfg)
        runner.train()


if __name__ == '__main__':
    main()

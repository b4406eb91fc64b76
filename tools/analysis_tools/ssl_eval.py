"""Frozen-feature evaluation of a (self-supervised) backbone.

Extracts features of a training and a test set with the frozen model and
reports (percent):

- ``linear``: top-1 / top-5 of a logistic-regression probe
  (:func:`mmfg.apis.linear_probe`; with ``n_last_blocks`` > 1 on the
  concatenated image features of the last blocks, CMD's protocol);
- ``knn``: top-1 / top-5 of DINO's weighted k-NN
  (:func:`mmfg.apis.knn_classify`, cosine, temperature 0.07);
- ``retrieval``: Rank-1, Rank-5 and mAP@100 with every 9th test image as a
  query and the rest of the test set plus the training set as the gallery
  (:func:`mmfg.apis.retrieval_eval`, i.e. ``RetrievalMetric``'s code).

The datasets come from the config's ``ssl_eval = dict(train=..., test=...)``
(dataset configs), else from its ``train_dataloader`` / ``test_dataloader``
datasets with the test pipeline. Settings of the probes come from
``ssl_eval.linear`` / ``.knn`` / ``.retrieval``, ``ssl_eval.n_last_blocks``
and ``ssl_eval.pool`` (CLI flags override). ``pool`` picks the image feature
of each ViT block for models whose ``extract_feat`` takes it (CMD): ``cls``
(class token), ``mean`` (mean patch token) or ``cls+mean`` (both); a random
ViT's class token carries little image information, so compare models and
the ``--random-init`` baseline under one fixed choice.

Examples:
    python tools/analysis_tools/ssl_eval.py \\
        configs/cmd/cmd_vit-t_synthbirds.py work_dirs/cmd/epoch_30.pth \\
        --out work_dirs/cmd/ssl_eval.json
    # the randomly initialised baseline of the same backbone
    python tools/analysis_tools/ssl_eval.py \\
        configs/cmd/cmd_vit-t_synthbirds.py --random-init
"""
import argparse
import copy
import json
import logging
import os
import os.path as osp
import sys
import time

from mmengine.config import DictAction
from mmengine.runner import set_random_seed

PROBES = ('linear', 'knn', 'retrieval')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='model config')
    p.add_argument('checkpoint', nargs='?', help='checkpoint to evaluate')
    p.add_argument('--random-init', action='store_true',
                   help='evaluate a randomly initialised model (baseline)')
    p.add_argument('--probe', nargs='+', choices=PROBES, default=PROBES,
                   help='which evaluations to run (default: all)')
    p.add_argument('--n-last-blocks', type=int,
                   help='image features of the last n blocks for the linear'
                   ' probe (default: ssl_eval.n_last_blocks or 1)')
    p.add_argument('--pool', choices=('cls', 'mean', 'cls+mean'),
                   help='image feature of a ViT block: class token, mean '
                   'patch token or both (default: ssl_eval.pool or cls); '
                   'models whose extract_feat has no pool ignore it')
    p.add_argument('--out', help='write the results as JSON here')
    p.add_argument('--device', default='cpu', help='cpu / cuda')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the random initialisation and the probes')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides, key=value')
    args = p.parse_args(argv)
    if args.checkpoint is None and not args.random_init:
        p.error('give a CHECKPOINT, or --random-init for the baseline.')
    if args.checkpoint is not None and args.random_init:
        p.error('--random-init evaluates an untrained model; do not give a '
                'CHECKPOINT with it.')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        p.error(f'checkpoint "{args.checkpoint}" does not exist.')
    return args


def _datasets(cfg):
    """(train, test) dataset configs of the evaluation."""
    from mmfg.utils.errors import ConfigError
    ev = cfg.get('ssl_eval') or {}
    if ev.get('train') is not None and ev.get('test') is not None:
        return copy.deepcopy(ev['train']), copy.deepcopy(ev['test'])
    if cfg.get('train_dataloader') is None or \
            cfg.get('test_dataloader') is None:
        raise ConfigError(
            'ssl_eval: the config has neither ssl_eval=dict(train=..., '
            'test=...) nor train_dataloader and test_dataloader; add the '
            'datasets to evaluate on.')
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    train = copy.deepcopy(cfg.train_dataloader.dataset)
    train['pipeline'] = pipeline
    return train, copy.deepcopy(cfg.test_dataloader.dataset)


def _feature_fn(n_last_blocks: int, pool=None):
    from mmfg.apis import pool_features

    def fn(model, inputs):
        kw = dict(pool=pool) if pool else {}
        if n_last_blocks > 1 or kw:
            return pool_features(
                model.extract_feat(
                    inputs, n_last_blocks=n_last_blocks, **kw))
        return pool_features(model.extract_feat(inputs))

    return fn


def main(argv=None):
    args = parse_args(argv)
    import mmfg.models  # noqa: F401  (registers the models first)
    from mmfg.apis import (extract_features, init_model, knn_classify,
                           linear_probe, load_config, retrieval_eval)
    from mmfg.models.selfsup.cmd import CMD
    from mmfg.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    cfg = load_config(args.config, args.cfg_options)
    ev = cfg.get('ssl_eval') or {}
    set_random_seed(args.seed)
    model = init_model(cfg, args.checkpoint, device=args.device)
    if args.random_init:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # no per-parameter init report
        model.init_weights()
        logger.setLevel(level)
        model.eval()
    n_last = args.n_last_blocks or int(ev.get('n_last_blocks', 1))
    if n_last > 1 and not CMD.accepts_n_last_blocks(model):
        print(f'ssl_eval: {type(model).__name__}.extract_feat has no '
              'n_last_blocks; the linear probe uses the last block.',
              file=sys.stderr)
        n_last = 1
    pool = args.pool or ev.get('pool')
    if pool and not CMD.accepts_n_last_blocks(model, 'pool'):
        print(f'ssl_eval: {type(model).__name__}.extract_feat has no pool; '
              'using its default features.', file=sys.stderr)
        pool = None
    train_ds, test_ds = _datasets(cfg)
    t0 = time.time()
    feats = {}
    kw = dict(batch_size=args.batch_size, device=args.device)
    for n in sorted({1, n_last} if 'linear' in args.probe else {1}):
        fn = _feature_fn(n, pool)
        feats[n] = (extract_features(model, train_ds, feature_fn=fn, **kw),
                    extract_features(model, test_ds, feature_fn=fn, **kw))
    results = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        random_init=bool(args.random_init),
        num_train=len(feats[1][0][0]),
        num_test=len(feats[1][1][0]),
        feature_dim=feats[1][0][0].shape[1],
        pool=pool or 'default')
    if 'linear' in args.probe:
        (xtr, ytr), (xte, yte) = feats[n_last]
        lin = dict(ev.get('linear') or {})
        results['linear'] = linear_probe(
            xtr, ytr, xte, yte, seed=args.seed, device=args.device, **lin)
        results['linear']['n_last_blocks'] = n_last
    (xtr, ytr), (xte, yte) = feats[1]
    if 'knn' in args.probe:
        results['knn'] = knn_classify(
            xtr, ytr, xte, yte, device=args.device,
            **dict(ev.get('knn') or {}))
    if 'retrieval' in args.probe:
        results['retrieval'] = retrieval_eval(
            xtr, ytr, xte, yte, **dict(ev.get('retrieval') or {}))
    results['seconds'] = round(time.time() - t0, 2)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return results


if __name__ == '__main__':
    main()

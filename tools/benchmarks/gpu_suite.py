"""GPU suite: training throughput, memory and overhead of every method.

One script, one short GPU session (a few minutes in all). For each method
config it builds the model exactly as ``tools/train.py`` would (weights
random, ``Pretrained`` init dropped), feeds synthetic uint8 batches that
already live on the device (so the step, not the loader, is timed) and
measures the mean ``train_step`` time (forward, loss, backward, optimizer
step; MMEngine ``AmpOptimWrapper``, bf16 by default, channels-last), images
per second and peak memory. The plain reference of the same run is
MMPretrain's ``ImageClassifier`` (ResNet-50, GAP, linear head) with the same
input, and at 224 px also "backbone + the ProtoPNet add-on + linear head";
the table gives ``overhead = method step / reference step``.

Every model gets the same optimizer (AdamW, lr 1e-4) so the ratio measures
the model, not the optimizer. ProtoTree's derivative-free leaf update
(``apply_leaf_update``, what its hook does after each iteration) is inside
the timed step.

Further sections (each skipped when the time budget is spent):

- ``push``: the prototype projection of a CUB-sized push set (5,994 images,
  2,000 prototypes, ResNet-50 ProtoPNet, 224 px) through
  :func:`mmfg.engine.hooks.push_hook.push_prototypes`, against one plain
  forward pass (``extract_feat``) over the same batches;
- ``compile``: ``torch.compile`` (and ``mode='reduce-overhead'``, CUDA
  graphs) at 224 px, where the eager step is bound by kernel launches;
- ``fp16``: fp16 with dynamic loss scaling (finite loss, scale reported);
- ``loader``: data-loading wait per iteration of a real JPEG pipeline
  (decode, resize/crop/flip at 448 px) with 2 and 8 workers, pinned memory,
  persistent workers;
- ``gallery``: exact top-k retrieval over 1M embeddings on the device
  (:func:`mmfg.evaluation.metrics.retrieval.knn_search`, tiled so memory
  stays bounded); the faiss IVF option is measured on CPU by
  ``bench_large_gallery.py``.

Example::

    # a GPU (bf16, the tables of the READMEs)
    python tools/benchmarks/gpu_suite.py --out gpu_suite.md
    # a quick functional check on CPU (tiny sizes, numbers meaningless)
    python tools/benchmarks/gpu_suite.py --device cpu --tiny
"""
import argparse
import copy
import math
import os
import os.path as osp
import sys
import tempfile
import time
import traceback
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmfg.utils.benchmark import synchronize as sync  # noqa: E402

# name, config, image size, options
METHODS_448 = [
    ('plain R50 (mmpretrain)', None, {}),
    ('ProtoPNet R50', 'configs/protopnet/protopnet_r50_cub.py', {}),
    ('ST-ProtoPNet R50', 'configs/st_protopnet/stprotopnet_r50_cub.py', {}),
    ('ProtoTree R50 d9', 'configs/prototree/prototree_r50_cub.py', {}),
    ('Gabor R50', 'configs/gabor/gabor_r50_cub_448.py', {}),
    ('RBI R50', 'configs/rbi/rbi_r50_cub_448.py', {}),
    ('target embedding R50', 'configs/target_embedding/'
     'targetembedding_r50_cub.py', {}),
]
METHODS_224 = [
    ('plain R50 (mmpretrain)', None, {}),
    ('plain R50 + add-on', None, dict(addon=True)),
    ('ProtoPNet R50', 'configs/protopnet/protopnet_r50_cub.py', {}),
    ('ST-ProtoPNet R50', 'configs/st_protopnet/stprotopnet_r50_cub.py', {}),
    ('ProtoTree R50 d9', 'configs/prototree/prototree_r50_cub.py', {}),
    ('BAS R50', 'configs/bas/bas_r50_cub.py', {}),
    ('CAM R50', 'configs/cam/cam_r50_cub.py', {}),
    ('SNR triplet R50', 'configs/dsml/snr-triplet_r50_cub.py', {}),
    ('DMML R50 cohort', 'configs/dmml/dmml_r50_cub.py', dict(views=True)),
]
METHODS_OTHER = [
    # own backbones: images/s and memory, no R50 overhead ratio
    ('MetaFormer-1 + attributes', 'configs/metaformer/'
     'metaformer-1_cub-attr_384.py', dict(size=384, meta=True)),
]


def peak_mib(device: torch.device) -> Optional[float]:
    if device.type != 'cuda':
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def reset_peak(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def time_it(fn: Callable[[], None], device: torch.device, iters: int,
            warmup: int, repeats: int = 2) -> float:
    """Best-of-``repeats`` mean seconds per call (one sync per repeat)."""
    for _ in range(warmup):
        fn()
    sync(device)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        sync(device)
        best = min(best, (time.perf_counter() - t) / iters)
    return best


class Budget:
    """Wall-clock budget of the whole suite: later sections are skipped
    (and say so) when it is spent, so the table is always printed."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


def load_cfg(path: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, path))


def plain_model_cfg(num_classes: int, addon: bool = False) -> dict:
    pre = dict(
        type='ClsDataPreprocessor',
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True)
    backbone = dict(type='ResNet', depth=50, out_indices=(3, ))
    if addon:
        return dict(
            type='mmpretrain.ImageClassifier',
            data_preprocessor=pre,
            backbone=backbone,
            head=dict(
                type='AddOnLinearHead',
                num_classes=num_classes,
                in_channels=2048))
    return dict(
        type='mmpretrain.ImageClassifier',
        data_preprocessor=pre,
        backbone=backbone,
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(
            type='mmpretrain.LinearClsHead',
            num_classes=num_classes,
            in_channels=2048))


def register_addon_head() -> None:
    """Backbone + the ProtoPNet ``regular`` add-on + GAP + linear: the
    reference the 224-px overhead target is stated against."""
    from mmpretrain.models.heads import ClsHead

    from mmfg.registry import MODELS
    if MODELS.get('AddOnLinearHead') is not None:
        return

    @MODELS.register_module()
    class AddOnLinearHead(ClsHead):

        def __init__(self, num_classes: int, in_channels: int,
                     dim: int = 128, **kwargs) -> None:
            super().__init__(**kwargs)
            self.num_classes = num_classes
            self.add_on = nn.Sequential(
                nn.Conv2d(in_channels, dim, 1), nn.ReLU(),
                nn.Conv2d(dim, dim, 1), nn.Sigmoid())
            self.fc = nn.Linear(dim, num_classes)

        def pre_logits(self, feats):
            return self.add_on(feats[-1]).mean((2, 3))

        def forward(self, feats):
            return self.fc(self.pre_logits(feats))


def build_model(path: Optional[str], opts: dict, device: torch.device,
                tiny: bool):
    from mmengine.registry import DefaultScope

    from mmfg.apis.inference import drop_pretrained_init
    from mmfg.registry import MODELS
    if path is None:
        model_cfg = plain_model_cfg(200, addon=opts.get('addon', False))
    else:
        cfg = load_cfg(path)
        model_cfg = copy.deepcopy(cfg.model)
        drop_pretrained_init(model_cfg)
        if cfg.get('data_preprocessor') is not None:
            model_cfg.setdefault('data_preprocessor',
                                 copy.deepcopy(cfg.data_preprocessor))
    if tiny:
        shrink(model_cfg)
    with DefaultScope.overwrite_default_scope('mmfg'):
        model = MODELS.build(model_cfg)
    model.init_weights()
    model.to(device)
    if device.type == 'cuda':
        model.to(memory_format=torch.channels_last)
    model.train()
    return model


def shrink(cfg) -> None:
    """CPU smoke mode: ResNet-18 instead of ResNet-50 (in place)."""
    if isinstance(cfg, dict):
        if cfg.get('type') in ('ResNet', 'mmpretrain.ResNet') and \
                cfg.get('depth') in (50, 101):
            cfg['depth'] = 18
        for k, v in list(cfg.items()):
            # in_channels, gen_in_channels (BAS), ...: the ResNet-50 widths
            if k.endswith('in_channels') and v in (2048, 1024):
                cfg[k] = v // 4
            else:
                shrink(v)
    elif isinstance(cfg, list):
        for v in cfg:
            shrink(v)


def make_samples(batch: int, num_classes: int, device: torch.device,
                 opts: dict) -> list:
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, num_classes, (batch, ), generator=g)
    samples = []
    for i in range(batch):
        ds = DataSample().set_gt_label(int(labels[i]))
        ds.set_metainfo(dict(sample_idx=i))
        if opts.get('meta'):
            ds.set_field(
                (torch.rand(312, generator=g) > 0.5).float(), 'attributes')
        samples.append(ds.to(device))
    return samples


def make_batch(batch: int, size: int, num_classes: int,
               device: torch.device, opts: dict) -> dict:
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (batch, 3, size, size), generator=g,
                         dtype=torch.uint8)
    if opts.get('views'):  # multi-view preprocessor: list of two views
        inputs = [imgs.to(device), imgs.flip(-1).to(device)]
    else:
        inputs = imgs.to(device)
    return dict(
        inputs=inputs,
        data_samples=make_samples(batch, num_classes, device, opts))


def make_optim(model, amp: Optional[str]):
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    if amp is None:
        return OptimWrapper(opt)
    if amp == 'float16':
        return AmpOptimWrapper(
            optimizer=opt, dtype='float16', loss_scale='dynamic')
    return AmpOptimWrapper(optimizer=opt, dtype=amp)


def tree_heads(model) -> list:
    from mmfg.models.heads.prototree_head import ProtoTreeHead
    return [m for m in model.modules() if isinstance(m, ProtoTreeHead)]


def step_fn(model, batch: dict, optim) -> Callable[[], None]:
    heads = [h for h in tree_heads(model)
             if h.leaf_learning == 'derivative_free']
    for h in heads:
        h.begin_leaf_epoch(1000)

    def step():
        model.train_step(batch, optim)
        for h in heads:
            h.apply_leaf_update()

    return step


def bench_method(name: str, path: Optional[str], opts: dict, size: int,
                 args, device: torch.device, amp: Optional[str]) -> Dict:
    size = opts.get('size', size)
    batch = args.batch
    reset_peak(device)
    model = build_model(path, opts, device, args.tiny)
    nc = getattr(getattr(model, 'head', None), 'num_classes', 200) or 200
    data = make_batch(batch, size, nc, device, opts)
    optim = make_optim(model, amp)
    t = time_it(step_fn(model, data, optim), device, args.iters,
                args.warmup)
    row = dict(
        name=name, size=size, batch=batch, step_ms=t * 1e3,
        img_s=batch / t, peak_mib=peak_mib(device))
    del model, optim, data
    return row


def section_train(args, device, budget: Budget, rows: List[Dict],
                  errors: List[str]) -> None:
    amp = None if args.amp == 'none' else args.amp
    groups = [(448, METHODS_448), (224, METHODS_224), (None, METHODS_OTHER)]
    if args.tiny:
        groups = [(64, METHODS_448), (64, METHODS_224),
                  (None, METHODS_OTHER)]
    for size, methods in groups:
        ref = {}
        for name, path, opts in methods:
            if args.only and not any(s in name for s in args.only):
                continue
            if budget.left() < 20:
                errors.append(f'train {name}: skipped (time budget)')
                continue
            o = dict(opts)
            if args.tiny and 'size' in o:
                o['size'] = 64
            try:
                r = bench_method(name, path, o, size or 224, args, device,
                                 amp)
            except Exception as e:  # noqa: BLE001  report, go on
                errors.append(f'train {name} @{size}: {e!r}')
                traceback.print_exc()
                continue
            if path is None:
                ref[name] = r['step_ms']
            r['vs_plain'] = r['step_ms'] / ref['plain R50 (mmpretrain)'] \
                if path and size and 'plain R50 (mmpretrain)' in ref \
                else None
            r['vs_addon'] = r['step_ms'] / ref['plain R50 + add-on'] \
                if path and 'plain R50 + add-on' in ref else None
            rows.append(r)
            print(f"  {name:28s} {r['size']:4d}px  {r['step_ms']:8.1f} ms  "
                  f"{r['img_s']:8.1f} img/s  peak "
                  f"{r['peak_mib'] or 0:8.0f} MiB", flush=True)


def section_fp16(args, device, budget: Budget, out: Dict,
                 errors: List[str]) -> None:
    if budget.left() < 20:
        errors.append('fp16: skipped (time budget)')
        return
    size = 64 if args.tiny else 448
    for name, path in (('ProtoPNet R50',
                        'configs/protopnet/protopnet_r50_cub.py'),
                       ('ProtoTree R50 d9',
                        'configs/prototree/prototree_r50_cub.py')):
        try:
            model = build_model(path, {}, device, args.tiny)
            data = make_batch(args.batch, size, 200, device, {})
            optim = make_optim(model, 'float16' if device.type == 'cuda'
                               else None)
            step = step_fn(model, data, optim)
            t = time_it(step, device, args.iters, args.warmup, repeats=1)
            with optim.optim_context(model):
                losses = model(**model.data_preprocessor(data, True),
                               mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
            scaler = getattr(optim, 'loss_scaler', None)
            out[name] = dict(
                step_ms=t * 1e3, finite=bool(torch.isfinite(loss)),
                scale=float(scaler.get_scale()) if scaler is not None
                and hasattr(scaler, 'get_scale') else None)
            print(f'  fp16 {name}: {out[name]}', flush=True)
        except Exception as e:  # noqa: BLE001
            errors.append(f'fp16 {name}: {e!r}')
            traceback.print_exc()


def section_compile(args, device, budget: Budget, out: Dict,
                    errors: List[str]) -> None:
    size = 64 if args.tiny else 224
    cases = [('plain R50 + add-on', None, dict(addon=True)),
             ('ProtoPNet R50', 'configs/protopnet/protopnet_r50_cub.py', {})]
    modes = ['default'] + (['reduce-overhead'] if device.type == 'cuda'
                           else [])
    amp = None if args.amp == 'none' else args.amp
    for mode in modes:
        for name, path, opts in cases:
            if budget.left() < 90:
                errors.append(f'compile {mode} {name}: skipped (budget)')
                continue
            try:
                model = build_model(path, opts, device, args.tiny)
                nc = model.head.num_classes
                data = make_batch(args.batch, size, nc, device, opts)
                optim = make_optim(model, amp)
                kw = {} if mode == 'default' else dict(mode=mode)
                model.backbone = torch.compile(model.backbone, **kw)
                sub = model.head.layer if hasattr(model.head, 'layer') \
                    else model.head
                if hasattr(model.head, 'layer'):
                    model.head.layer = torch.compile(sub, **kw)
                else:
                    model.head.add_on = torch.compile(sub.add_on, **kw)
                t0 = time.perf_counter()
                step = step_fn(model, data, optim)
                step()
                step()
                sync(device)
                ctime = time.perf_counter() - t0
                t = time_it(step, device, args.iters, args.warmup)
                out[f'{name} [{mode}]'] = dict(
                    step_ms=t * 1e3, compile_s=ctime)
                print(f'  compile {mode} {name}: {t * 1e3:.1f} ms '
                      f'(compile {ctime:.0f} s)', flush=True)
                del model, optim, data
            except Exception as e:  # noqa: BLE001
                errors.append(f'compile {mode} {name}: {e!r}'[:300])
                traceback.print_exc()


def section_push(args, device, budget: Budget, out: Dict,
                 errors: List[str]) -> None:
    """Push of a CUB-sized set vs one plain forward pass over it."""
    if budget.left() < 45:
        errors.append('push: skipped (time budget)')
        return
    from mmfg.engine.hooks.push_hook import push_prototypes
    n_img = 240 if args.tiny else 5994
    size = 64 if args.tiny else 224
    bs = 75
    try:
        model = build_model('configs/protopnet/protopnet_r50_cub.py', {},
                            device, args.tiny)
        model.eval()
        g = torch.Generator().manual_seed(0)
        # uint8 images in pinned host memory, batches as the loader gives
        imgs = torch.randint(0, 256, (n_img, 3, size, size), generator=g,
                             dtype=torch.uint8)
        if device.type == 'cuda':
            imgs = imgs.pin_memory()
        labels = torch.arange(n_img) % 200
        from mmpretrain.structures import DataSample
        batches = []
        for s in range(0, n_img, bs):
            samples = []
            for i in range(s, min(s + bs, n_img)):
                ds = DataSample().set_gt_label(int(labels[i]))
                ds.set_metainfo(dict(sample_idx=i))
                samples.append(ds)
            batches.append(dict(inputs=imgs[s:s + bs], data_samples=samples))

        @torch.no_grad()
        def plain():
            for b in batches:
                d = model.data_preprocessor(b, False)
                model.extract_feat(d['inputs'])

        def push_only():
            push_prototypes(model, batches, update=False,
                            with_records=False)

        def push_full():
            push_prototypes(model, batches, update=False, with_records=True)

        reset_peak(device)
        t_plain = time_it(plain, device, 1, 1)
        t_proj = time_it(push_only, device, 1, 1)
        t_full = time_it(push_full, device, 1, 0, repeats=1)
        out.update(
            images=n_img, prototypes=2000, size=size,
            plain_s=t_plain, projection_s=t_proj, push_records_s=t_full,
            ratio_projection=t_proj / t_plain,
            ratio_records=t_full / t_plain, peak_mib=peak_mib(device))
        print(f'  push: {out}', flush=True)
    except Exception as e:  # noqa: BLE001
        errors.append(f'push: {e!r}')
        traceback.print_exc()


def write_jpegs(root: str, n: int, classes: int = 8) -> None:
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(n):
        d = osp.join(root, f'c{i % classes}')
        os.makedirs(d, exist_ok=True)
        low = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(low).resize((500, 375), Image.BICUBIC)
        img.save(osp.join(d, f'{i}.jpg'), quality=90)


def section_loader(args, device, budget: Budget, out: Dict,
                   errors: List[str]) -> None:
    """Data-loading wait per iteration while training ProtoPNet at 448."""
    if budget.left() < 45:
        errors.append('loader: skipped (time budget)')
        return
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    from torch.utils.data import DataLoader

    from mmfg.registry import DATASETS
    size = 64 if args.tiny else 448
    n = 96 if args.tiny else 1024
    tmp = tempfile.mkdtemp(prefix='mmfg_loader_')
    try:
        write_jpegs(tmp, n)
        pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=int(size * 8 / 7), keep_ratio=False),
            dict(type='RandomCrop', crop_size=size),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackFGInputs'),
        ]
        with DefaultScope.overwrite_default_scope('mmfg'):
            ds = DATASETS.build(
                dict(type='mmpretrain.CustomDataset', data_root=tmp,
                     pipeline=pipeline))
        model = build_model('configs/protopnet/protopnet_r50_cub.py', {},
                            device, args.tiny)
        amp = None if args.amp == 'none' else args.amp
        optim = make_optim(model, amp)
        worker_opts = [0, 2] if args.tiny else [2, 8, 14]
        for workers in worker_opts:
            if budget.left() < 25:
                errors.append(f'loader {workers} workers: skipped (budget)')
                continue
            loader = DataLoader(
                ds, batch_size=args.batch, shuffle=True,
                num_workers=workers, collate_fn=pseudo_collate,
                pin_memory=device.type == 'cuda', drop_last=True,
                persistent_workers=workers > 0)
            waits, steps = [], []
            it = iter(loader)
            n_it = min(len(loader), 3 if args.tiny else 14)
            for i in range(n_it):
                t0 = time.perf_counter()
                batch = next(it)
                t1 = time.perf_counter()
                model.train_step(batch, optim)
                sync(device)
                t2 = time.perf_counter()
                if i >= 2:  # first batches include worker start-up
                    waits.append(t1 - t0)
                    steps.append(t2 - t1)
            del it, loader
            w = sum(waits) / max(len(waits), 1)
            s = sum(steps) / max(len(steps), 1)
            out[f'{workers} workers'] = dict(
                wait_ms=w * 1e3, step_ms=s * 1e3,
                wait_fraction=w / (w + s) if w + s > 0 else None)
            print(f'  loader {workers} workers: wait {w * 1e3:.1f} ms/iter,'
                  f' step {s * 1e3:.1f} ms', flush=True)
    except Exception as e:  # noqa: BLE001
        errors.append(f'loader: {e!r}')
        traceback.print_exc()
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def section_gallery(args, device, budget: Budget, out: Dict,
                    errors: List[str]) -> None:
    """Exact top-k over a 1M gallery on the device, in bounded chunks."""
    if budget.left() < 20:
        errors.append('gallery: skipped (time budget)')
        return
    from mmfg.evaluation.metrics.retrieval import knn_search
    n_gal = 20000 if args.tiny else 1_000_000
    n_q, dim, k = (200 if args.tiny else 10000), 128, 10
    g = torch.Generator().manual_seed(0)
    gal = torch.nn.functional.normalize(
        torch.randn(n_gal, dim, generator=g), dim=1).to(device)
    q = torch.nn.functional.normalize(
        torch.randn(n_q, dim, generator=g), dim=1).to(device)

    def ours():
        # mmfg's exact, memory-bounded (tiled) torch search on the device
        for _ in knn_search(q, gal, k, distance='cosine', backend='torch',
                            device=str(device)):
            pass

    try:
        reset_peak(device)
        base = torch.cuda.memory_allocated(device) / 2**20 \
            if device.type == 'cuda' else 0.0
        t = time_it(ours, device, 1, 1)
        out.update(gallery=n_gal, queries=n_q, dim=dim, k=k, seconds=t,
                   queries_per_s=n_q / t,
                   extra_peak_mib=(peak_mib(device) or 0) - base,
                   backend='knn_search, torch, tiled')
        print(f'  gallery: {out}', flush=True)
    except Exception as e:  # noqa: BLE001
        errors.append(f'gallery: {e!r}')
        traceback.print_exc()


def fmt(v, spec='.1f', none='—') -> str:
    return none if v is None else format(v, spec)


def markdown(device_name: str, args, rows, fp16, comp, push, loader,
             gallery, errors) -> str:
    lines = [f'GPU suite on **{device_name}**, torch {torch.__version__}, '
             f'{args.amp} autocast, channels-last, batch {args.batch}, '
             f'synthetic on-device inputs, AdamW; mean step over '
             f'{args.iters} iterations (best of 2).', '',
             '| method | px | step (ms) | img/s | peak (MiB) | '
             '× plain R50 | × R50 + add-on |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['size']} | {fmt(r['step_ms'])} | "
            f"{fmt(r['img_s'], '.0f')} | {fmt(r['peak_mib'], '.0f')} | "
            f"{fmt(r.get('vs_plain'), '.3f')} | "
            f"{fmt(r.get('vs_addon'), '.3f')} |")
    if comp:
        lines += ['', '| 224 px, compiled (backbone + head layer) | '
                  'step (ms) | compile (s) |', '| --- | --- | --- |']
        for k, v in comp.items():
            lines.append(f"| {k} | {fmt(v['step_ms'])} | "
                         f"{fmt(v['compile_s'], '.0f')} |")
    if fp16:
        lines += ['', '| fp16 + dynamic loss scaling | step (ms) | '
                  'finite loss | scale |', '| --- | --- | --- | --- |']
        for k, v in fp16.items():
            lines.append(f"| {k} | {fmt(v['step_ms'])} | {v['finite']} | "
                         f"{fmt(v['scale'], '.0f')} |")
    if push:
        lines += [
            '', f"Push set {push['images']} images × 2,000 prototypes at "
            f"{push['size']} px (fp32): plain forward "
            f"{push['plain_s']:.2f} s; projection "
            f"{push['projection_s']:.2f} s (**{push['ratio_projection']:.2f}"
            f"×**); projection + records {push['push_records_s']:.2f} s "
            f"({push['ratio_records']:.2f}×); peak "
            f"{fmt(push['peak_mib'], '.0f')} MiB."
        ]
    if loader:
        lines += ['', '| JPEG loader, 448 px, ProtoPNet R50 step | '
                  'wait (ms/iter) | step (ms) | wait share |',
                  '| --- | --- | --- | --- |']
        for k, v in loader.items():
            lines.append(f"| {k} | {fmt(v['wait_ms'])} | "
                         f"{fmt(v['step_ms'])} | "
                         f"{fmt(v['wait_fraction'], '.2f')} |")
    if gallery:
        lines += [
            '', f"Exact top-{gallery['k']} over {gallery['gallery']:,} "
            f"embeddings (dim {gallery['dim']}), {gallery['queries']:,} "
            f"queries: {gallery['seconds']:.2f} s "
            f"({gallery['queries_per_s']:.0f} queries/s), extra peak "
            f"{gallery['extra_peak_mib']:.0f} MiB ({gallery['backend']})."
        ]
    if errors:
        lines += ['', 'Not measured:'] + [f'- {e}' for e in errors]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda')
    p.add_argument('--tiny', action='store_true',
                   help='CPU smoke test: ResNet-18, 64 px, batch 2')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--amp', default='bfloat16',
                   choices=['bfloat16', 'float16', 'none'])
    p.add_argument('--budget', type=float, default=420.,
                   help='seconds for the whole suite')
    p.add_argument('--sections', nargs='+',
                   default=['train', 'push', 'fp16', 'loader', 'gallery',
                            'compile'])
    p.add_argument('--only', nargs='*', help='method name substrings')
    p.add_argument('--out', help='write the Markdown table here')
    args = p.parse_args(argv)
    if args.tiny:
        args.batch, args.iters, args.warmup = 2, 2, 1
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = 'CPU'
        args.amp = 'none'  # MMEngine's AmpOptimWrapper needs a GPU
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    from mmfg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    register_addon_head()
    budget = Budget(args.budget)
    rows: List[Dict] = []
    errors: List[str] = []
    fp16: Dict = {}
    comp: Dict = {}
    push: Dict = {}
    loader: Dict = {}
    gallery: Dict = {}
    t0 = time.perf_counter()
    for sec in args.sections:
        print(f'== {sec} ({budget.left():.0f} s left)', flush=True)
        if sec == 'train':
            section_train(args, device, budget, rows, errors)
        elif sec == 'fp16':
            section_fp16(args, device, budget, fp16, errors)
        elif sec == 'compile':
            section_compile(args, device, budget, comp, errors)
        elif sec == 'push':
            section_push(args, device, budget, push, errors)
        elif sec == 'loader':
            section_loader(args, device, budget, loader, errors)
        elif sec == 'gallery':
            section_gallery(args, device, budget, gallery, errors)
        else:
            errors.append(f'unknown section {sec}')
    md = markdown(device_name, args, rows, fp16, comp, push, loader,
                  gallery, errors)
    md += f'\nSuite wall time {time.perf_counter() - t0:.0f} s.\n'
    print(md)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(md)
    return 0


if __name__ == '__main__':
    sys.exit(main())

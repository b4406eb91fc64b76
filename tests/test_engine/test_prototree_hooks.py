"""ProtoTree hooks: leaf updates (incl. 2-process DDP), projection, pruning,
saving and rendering inside a real MMEngine Runner."""
import json
import os
import os.path as osp
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch import nn

from mmfg.engine.hooks import TreeProjection
from mmfg.models.utils import squared_l2_map
from mmfg.registry import DATASETS, MODELS
from mmfg.utils import register_all_modules

torch.set_num_threads(1)


@DATASETS.register_module(force=True)
class ProtoTreeToyDataset(BaseDataset):
    """Tiny in-memory data set: class c has a bright square of colour c at a
    random place on a dark noisy background."""
    METAINFO = dict(classes=('red', 'green', 'blue'))

    def __init__(self, n: int = 48, size: int = 32, seed: int = 0, **kw):
        self.n, self.size, self.seed = n, size, seed
        super().__init__(ann_file='', serialize_data=False, **kw)

    def load_data_list(self):
        rng = np.random.RandomState(self.seed)
        out = []
        for i in range(self.n):
            c = i % 3
            img = rng.randint(0, 40, (self.size, self.size, 3),
                              dtype=np.uint8)
            y, x = rng.randint(0, self.size - 12, 2)
            img[y:y + 12, x:x + 12, 2 - c] = 230  # BGR
            out.append(dict(img=img, gt_label=c))
        return out


@MODELS.register_module(force=True)
class ProtoTreeToyBackbone(nn.Module):
    """Two strided convs: (B, 3, 32, 32) -> (B, 16, 8, 8)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 16, 3, 2, 1),
            nn.ReLU())

    def forward(self, x):
        return (self.net(x), )

    def init_weights(self):
        pass


def _cfg(work_dir: str, epochs: int = 4) -> Config:
    pipeline = [dict(type='PackInputs')]
    loader = lambda n, seed, shuffle: dict(  # noqa: E731
        batch_size=8,
        num_workers=0,
        dataset=dict(type='ProtoTreeToyDataset', n=n, seed=seed,
                     pipeline=pipeline),
        sampler=dict(type='DefaultSampler', shuffle=shuffle))
    return Config(
        dict(
            default_scope='mmfg',
            work_dir=work_dir,
            model=dict(
                type='ImageClassifier',
                data_preprocessor=dict(
                    type='ClsDataPreprocessor', num_classes=3,
                    mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True),
                backbone=dict(type='ProtoTreeToyBackbone'),
                head=dict(type='ProtoTreeHead', num_classes=3,
                          in_channels=16, depth=3, proto_channels=8,
                          patch_size=16)),
            train_dataloader=loader(48, 0, True),
            val_dataloader=loader(24, 1, False),
            val_evaluator=[dict(type='Accuracy'), dict(type='TreeFidelity')],
            train_cfg=dict(by_epoch=True, max_epochs=epochs,
                           val_interval=epochs),
            val_cfg=dict(),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=5e-3, eps=1e-7)),
            custom_hooks=[
                dict(type='ProtoTreeLeafUpdateHook'),
                dict(type='ProtoTreePruneProjectHook'),
                dict(type='ProtoTreeRenderHook'),
            ],
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=100),
                logger=dict(type='LoggerHook', interval=100)),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            randomness=dict(seed=0),
            log_level='WARNING',
        ))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    register_all_modules(init_default_scope=False)
    work_dir = str(tmp_path_factory.mktemp('prototree_run'))
    with DefaultScope.overwrite_default_scope('mmfg'):
        runner = Runner.from_cfg(_cfg(work_dir))
        start = runner.model.head.leaf_params.clone()
        runner.train()
    return runner, work_dir, start


def test_leaf_hook_learns_leaves(trained):
    runner, _, start = trained
    head = runner.model.head
    assert torch.equal(start, torch.zeros_like(start))
    assert head.leaf_params.abs().sum() > 0
    assert bool((head.leaf_params >= 0).all())
    assert head.leaf_learning == 'derivative_free'


def test_summary_checkpoint_and_metrics(trained):
    runner, work_dir, _ = trained
    with open(osp.join(work_dir, 'prototree_summary.json')) as f:
        summary = json.load(f)
    assert list(summary) == ['trained', 'pruned', 'projected']
    for stage in summary.values():
        m = stage['metrics']
        assert 0 <= m['accuracy/top1'] <= 100
        assert 0 <= m['tree/fidelity_greedy'] <= 100
        assert m['tree/path_length_greedy'] <= 3
    assert summary['trained']['nodes'] == [7]
    assert summary['pruned']['nodes'][0] <= 7
    assert summary['projected']['projection']['head0']['projected'] > 0
    # the saved (pruned) checkpoint loads into a fresh, full-size model
    ckpt = osp.join(work_dir, 'prototree_pruned_projected.pth')
    assert osp.isfile(ckpt)
    from mmengine.runner import load_checkpoint
    with DefaultScope.overwrite_default_scope('mmfg'):
        fresh = MODELS.build(_cfg(work_dir).model)
    load_checkpoint(fresh, ckpt, map_location='cpu')
    head = runner.model.head
    assert fresh.head.num_prototypes == head.num_prototypes
    assert torch.equal(fresh.head.prototypes, head.prototypes)
    assert torch.equal(fresh.head.proto_patches, head.proto_patches)


def test_projection_puts_prototypes_on_allowed_real_patches(trained):
    runner, _, _ = trained
    model = runner.model
    head = model.head
    ds = runner.train_dataloader.dataset
    allowed = head.projection_allowed()
    src = head.proto_source
    assert bool((src[:, 0] >= 0).all())
    model.eval()
    for n in range(head.num_prototypes):
        i, h, w = src[n].tolist()
        item = ds[i]
        data = model.data_preprocessor(
            dict(inputs=[item['inputs']], data_samples=[item['data_samples']
                                                        ]), False)
        with torch.no_grad():
            z = head.latent(model.extract_feat(data['inputs']))[0, 0]
        torch.testing.assert_close(head.prototypes[n].detach(), z[:, h, w])
        assert bool(allowed[n, int(item['data_samples'].gt_label)])
    # thumbnails were stored
    assert head.proto_patches.float().mean() > 0


def test_render_files(trained):
    _, work_dir, _ = trained
    out = osp.join(work_dir, 'prototree')
    for f in ('prototree.svg', 'prototree.html', 'prototree.dot',
              'prototree.json'):
        assert osp.getsize(osp.join(out, f)) > 0
    import xml.etree.ElementTree as ET
    root = ET.parse(osp.join(out, 'prototree.svg')).getroot()
    images = [e for e in root.iter() if e.tag.endswith('image')]
    assert len(images) == runner_nodes(work_dir)
    dot = open(osp.join(out, 'prototree.dot')).read()
    assert dot.startswith('digraph') and 'present' in dot
    assert len(os.listdir(osp.join(out, 'nodes'))) == len(images)


def runner_nodes(work_dir):
    with open(osp.join(work_dir, 'prototree_summary.json')) as f:
        return json.load(f)['projected']['nodes'][0]


def test_projection_matches_brute_force():
    """TreeProjection == exhaustive search over allowed patches."""
    register_all_modules(init_default_scope=False)
    head = MODELS.build(
        dict(type='ProtoTreeHead', num_classes=4, in_channels=6, depth=3,
             proto_channels=5, num_trees=2))
    head.leaf_params.uniform_(0, 3)
    allowed = head.projection_allowed()
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(5, 6, 3, 3, generator=g) for _ in range(3)]
    labels = [torch.randint(0, 4, (5, ), generator=g) for _ in range(3)]
    proj = TreeProjection(head)
    before = head.prototypes.detach().clone()
    for k, (x, y) in enumerate(zip(feats, labels)):
        proj.update((x, ), y, torch.arange(5) + 5 * k)
    res = proj.finish()
    with torch.no_grad():
        z = torch.cat([head.latent((x, )) for x in feats])  # (15, 2, D,3,3)
    y = torch.cat(labels)
    for n in range(head.num_prototypes):
        t = int(head.node_tree[n])
        d = squared_l2_map(z[:, t], before[n:n + 1])[:, 0]  # (15, 3, 3)
        ok = allowed[n, y]
        if not bool(ok.any()):
            assert int(res['img_idx'][n]) == -1
            torch.testing.assert_close(head.prototypes[n], before[n])
            continue
        d[~ok] = float('inf')
        best = d.min()
        i, h, w = head.proto_source[n].tolist()
        torch.testing.assert_close(d[i, h, w], best)
        torch.testing.assert_close(head.prototypes[n].detach(),
                                   z[i, t, :, h, w])


# ---------------------------------------------------------------------------
# DDP (2 processes, gloo): leaves and projection agree with one process
# ---------------------------------------------------------------------------
def _head():
    torch.manual_seed(0)
    head = MODELS.build(
        dict(type='ProtoTreeHead', num_classes=4, in_channels=6, depth=3,
             proto_channels=5))
    head.leaf_params.uniform_(0, 2)
    return head


def _data():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(8, 6, 3, 3, generator=g),
            torch.randint(0, 4, (8, ), generator=g))


def _step(head, x, y, idx):
    head.begin_leaf_epoch(2)
    head.loss((x, ), [DataSample().set_gt_label(int(v)) for v in y])
    head.apply_leaf_update()
    proj = TreeProjection(head)
    proj.update((x, ), y, idx)
    proj.finish()
    return head


def _worker(rank, init_file, out_dir):
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=2)
    register_all_modules(init_default_scope=False)
    x, y = _data()
    part = slice(rank * 4, rank * 4 + 4)
    head = _step(_head(), x[part], y[part], torch.arange(8)[part])
    torch.save(dict(leaves=head.leaf_params, protos=head.prototypes.data,
                    src=head.proto_source),
               osp.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def test_ddp_leaf_update_and_projection_agree_with_single_process():
    register_all_modules(init_default_scope=False)
    x, y = _data()
    single = _step(_head(), x, y, torch.arange(8))
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(osp.join(tmp, 'init'), tmp), nprocs=2)
        res = [torch.load(osp.join(tmp, f'rank{r}.pt')) for r in range(2)]
    for r in res:
        assert torch.equal(r['leaves'], res[0]['leaves'])
        torch.testing.assert_close(r['leaves'], single.leaf_params,
                                   rtol=1e-5, atol=1e-6)
        assert torch.equal(r['protos'], single.prototypes.data)
        assert torch.equal(r['src'], single.proto_source)


# ---------------------------------------------------------------------------
# a whole Runner under 2-process DDP (gloo): leaf hook, prune + project
# ---------------------------------------------------------------------------
def _runner_worker(rank, work_dir):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2')
    # a file rendezvous (no port to race for); MMEngine and mmfg's CPU
    # launcher see the initialised group and use it
    dist.init_process_group(
        'gloo', init_method=f'file://{osp.join(work_dir, "rdzv")}',
        rank=rank, world_size=2)
    from mmfg.utils import setup_distributed
    register_all_modules(init_default_scope=False)
    cfg = _cfg(work_dir, epochs=2)
    cfg.launcher = 'pytorch'
    setup_distributed(cfg, 'pytorch')
    with DefaultScope.overwrite_default_scope('mmfg'):
        runner = Runner.from_cfg(cfg)
        runner.train()
    head = runner.model.module.head
    torch.save(
        dict(leaves=head.leaf_params, protos=head.prototypes.data,
             src=head.proto_source, nodes=head.num_prototypes),
        osp.join(work_dir, f'ddp_rank{rank}.pt'))
    dist.destroy_process_group()


@pytest.mark.slow
def test_runner_ddp_two_processes_agree(tmp_path):
    mp.spawn(_runner_worker, args=(str(tmp_path), ), nprocs=2)
    res = [torch.load(tmp_path / f'ddp_rank{r}.pt') for r in range(2)]
    assert res[0]['nodes'] == res[1]['nodes']
    assert torch.equal(res[0]['leaves'], res[1]['leaves'])
    assert res[0]['leaves'].abs().sum() > 0
    assert torch.equal(res[0]['protos'], res[1]['protos'])
    assert torch.equal(res[0]['src'], res[1]['src'])
    assert bool((res[0]['src'][:, 0] >= 0).all())
    summary = json.load(open(tmp_path / 'prototree_summary.json'))
    assert set(summary) == {'trained', 'pruned', 'projected'}
    assert osp.isfile(tmp_path / 'prototree_pruned_projected.pth')

"""The GPU suite runs on CPU in its smoke mode and reports what it measured
(ratios against the plain classifier of the same run, push vs forward)."""
import argparse
import importlib.util
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _suite():
    path = osp.join(ROOT, 'tools', 'benchmarks', 'gpu_suite.py')
    spec = importlib.util.spec_from_file_location('gpu_suite', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_suite_cpu_smoke(tmp_path):
    suite = _suite()
    out = tmp_path / 'suite.md'
    rc = suite.main([
        '--device', 'cpu', '--tiny', '--sections', 'train', 'gallery',
        '--only', 'plain R50 (mmpretrain)', 'ProtoPNet', '--out',
        str(out)
    ])
    assert rc == 0
    md = out.read_text()
    # one plain reference and one ProtoPNet row per image size
    rows = [ln for ln in md.splitlines() if ln.startswith('| ProtoPNet')]
    assert len(rows) == 2, md
    # the ratio column is filled against the same run's plain classifier
    ratio = float(rows[0].split('|')[6])
    assert 0.2 < ratio < 20
    assert 'Exact top-10 over 20,000 embeddings' in md
    assert 'Not measured' not in md, md


def test_shrink_maps_resnet50_to_resnet18():
    suite = _suite()
    cfg = dict(
        backbone=dict(type='ResNet', depth=50),
        head=dict(type='ProtoPNetHead', in_channels=2048),
        neck=[dict(in_channels=1024)])
    suite.shrink(cfg)
    assert cfg['backbone']['depth'] == 18
    assert cfg['head']['in_channels'] == 512
    assert cfg['neck'][0]['in_channels'] == 256


def _entries():
    suite = _suite()
    seen = {}
    for name, path, opts in (suite.METHODS_448 + suite.METHODS_224 +
                             suite.METHODS_OTHER):
        seen.setdefault((path, tuple(sorted(opts))), (name, path, opts))
    return list(seen.values())


@pytest.mark.parametrize('entry', _entries(), ids=lambda e: e[0])
def test_every_suite_model_takes_a_train_step(entry):
    """Each model of the suite builds in smoke mode and takes a step, so a
    broken entry is caught here rather than in a short GPU session."""
    suite = _suite()
    name, path, opts = entry
    opts = dict(opts)
    if 'size' in opts:
        opts['size'] = 64
    args = argparse.Namespace(batch=2, iters=1, warmup=0, tiny=True)
    row = suite.bench_method(name, path, opts, 64, args,
                             torch.device('cpu'), None)
    assert row['step_ms'] > 0 and row['img_s'] > 0

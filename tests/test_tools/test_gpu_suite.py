"""The GPU suite runs on CPU in its smoke mode and reports what it measured
(ratios against the plain classifier of the same run, push vs forward)."""
import importlib.util
import os.path as osp

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

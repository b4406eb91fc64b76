import multiprocessing as mp
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mmfg.datasets.synth as synth
from mmfg.datasets import CUB, SynthBirds, ensure_synthbirds
from mmfg.registry import DATASETS
from mmfg.utils.errors import ConfigError, DatasetNotFoundError

GEN = dict(num_classes=3, images_per_class=6, image_size=32, seed=0)


@pytest.fixture
def spy(monkeypatch):
    """Count calls of the real generator."""
    calls = []
    real = synth.generate_synthbirds

    def counting(out_dir, **kwargs):
        calls.append(out_dir)
        return real(out_dir, **kwargs)

    monkeypatch.setattr(synth, 'generate_synthbirds', counting)
    return calls


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('sb') / 'synthbirds')
    ensure_synthbirds(root, GEN)
    return root


def test_generates_once_then_reuses(tmp_path, spy, monkeypatch):
    import mmfg.datasets.synthbirds as synthbirds_module
    logged = []
    monkeypatch.setattr(synthbirds_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    root = str(tmp_path / 'data' / 'synthbirds')
    ds = SynthBirds(root, gen_cfg=GEN, split='all')
    assert len(spy) == 1 and len(ds) == 18
    # the one-time generation says so (a first run is otherwise silent)
    assert len(logged) == 1 and '3 classes x 6 images' in logged[0]
    assert root in logged[0]
    assert ds.gen_cfg == synth.synthbirds_gen_cfg(**GEN)
    assert osp.exists(osp.join(root, 'synthbirds.json'))
    mtime = os.stat(osp.join(root, 'images.txt')).st_mtime_ns
    again = SynthBirds(root, gen_cfg=dict(GEN, progress=True), split='test')
    assert len(spy) == 1  # reused, not regenerated
    assert len(logged) == 1
    assert os.stat(osp.join(root, 'images.txt')).st_mtime_ns == mtime
    assert len(again) == 9
    # nothing but the dataset is left next to it, readable like a mkdir
    assert os.listdir(str(tmp_path / 'data')) == ['synthbirds']
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(root).st_mode & 0o777 == 0o777 & ~umask


def test_reads_like_cub(generated):
    ds = SynthBirds(
        generated,
        gen_cfg=GEN,
        split='all',
        with_attributes=True,
        with_mask=True)
    cub = CUB(generated, split='all', with_attributes=True, with_mask=True)
    assert ds.metainfo == cub.metainfo
    assert len(ds.metainfo['classes']) == 3
    assert ds.metainfo['part_flip_pairs'] == [(6, 10), (7, 11), (8, 12)]
    np.testing.assert_array_equal(ds.class_attributes, cub.class_attributes)
    assert ds.class_attributes.shape == (3,
                                         len(ds.metainfo['attribute_names']))
    for i in range(len(ds)):
        a, b = ds.get_data_info(i), cub.get_data_info(i)
        assert a.keys() == b.keys() >= {
            'img_path', 'img_id', 'gt_label', 'gt_bboxes', 'gt_parts',
            'part_flip_pairs', 'attributes', 'attribute_certainty',
            'gt_mask_path'
        }
        for key in ('gt_bboxes', 'gt_parts', 'attributes'):
            np.testing.assert_array_equal(a[key], b[key])
        assert osp.exists(a['img_path']) and osp.exists(a['gt_mask_path'])
    assert ds.get_gt_labels().tolist() == [
        c for c in range(3) for _ in range(6)
    ]
    splits = {
        s: len(SynthBirds(generated, gen_cfg=GEN, split=s))
        for s in ('train', 'val', 'test')
    }
    assert splits == dict(train=6, val=3, test=9)


def test_registry_lazy_and_class_split(generated):
    init_default_scope('mmfg')
    ds = DATASETS.build(
        dict(
            type='SynthBirds',
            data_root=generated,
            gen_cfg=GEN,
            class_split='second',
            lazy_init=True))
    assert type(ds) is SynthBirds and not ds._fully_initialized
    assert len(ds.metainfo['classes']) == 2
    assert len(ds) == 12


def test_different_gen_cfg_is_an_error(generated, spy):
    with pytest.raises(
            ConfigError,
            match=r'seed: stored 0 vs requested 1'
            r'.*Delete the folder'):
        SynthBirds(generated, gen_cfg=dict(GEN, seed=1))
    # defaults count: omitting a key means the generator's default
    with pytest.raises(ConfigError, match='num_classes: stored 3'):
        SynthBirds(generated, gen_cfg=dict(seed=0))
    assert spy == []


def test_missing_without_generation(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='generate=True'):
        SynthBirds(str(tmp_path / 'sb'), generate=False, gen_cfg=GEN)
    assert not osp.exists(tmp_path / 'sb')


def test_foreign_folder_is_left_alone(tmp_path):
    root = tmp_path / 'sb'
    root.mkdir()
    (root / 'precious.txt').write_text('keep me')
    with pytest.raises(ConfigError, match='not a complete SynthBirds'):
        SynthBirds(str(root), gen_cfg=GEN)
    assert os.listdir(root) == ['precious.txt']


def test_empty_folder_is_filled(tmp_path):
    root = tmp_path / 'sb'
    root.mkdir()
    assert len(SynthBirds(str(root), gen_cfg=GEN, split='test')) == 9


def test_bad_gen_cfg_and_damaged_config(generated, tmp_path):
    with pytest.raises(ConfigError, match='invalid gen_cfg'):
        SynthBirds(str(tmp_path / 'x'), gen_cfg=dict(colour='red'))
    with pytest.raises(ConfigError, match='out_dir'):
        SynthBirds(str(tmp_path / 'x'), gen_cfg=dict(out_dir='y'))
    root = tmp_path / 'damaged'
    root.mkdir()
    (root / 'synthbirds.json').write_text('{not json')
    with pytest.raises(ConfigError, match='damaged'):
        SynthBirds(str(root), gen_cfg=GEN)


def test_losing_the_race_uses_the_winner(tmp_path, monkeypatch):
    """Another process installs its copy while we generate ours."""
    root = str(tmp_path / 'sb')
    real = synth.generate_synthbirds
    staged = []

    def racing(out_dir, **kwargs):
        real(root, **kwargs)  # the winner finishes first
        winner = os.stat(osp.join(root, 'images.txt')).st_ino
        staged.append((out_dir, winner))
        return real(out_dir, **kwargs)

    monkeypatch.setattr(synth, 'generate_synthbirds', racing)
    ds = SynthBirds(root, gen_cfg=GEN, split='all')
    assert len(ds) == 18
    out_dir, winner = staged[0]
    # the winner's files were kept, ours were deleted, no temp folder left
    assert os.stat(osp.join(root, 'images.txt')).st_ino == winner
    assert not osp.exists(out_dir)
    assert os.listdir(str(tmp_path)) == ['sb']


def test_winner_with_other_cfg_is_reported(tmp_path, monkeypatch):
    root = str(tmp_path / 'sb')
    real = synth.generate_synthbirds

    def racing(out_dir, **kwargs):
        real(root, **dict(kwargs, seed=5))
        return real(out_dir, **kwargs)

    monkeypatch.setattr(synth, 'generate_synthbirds', racing)
    with pytest.raises(ConfigError, match='seed: stored 5 vs requested 0'):
        SynthBirds(root, gen_cfg=GEN)
    assert os.listdir(str(tmp_path)) == ['sb']


def _worker(root, barrier, queue):
    try:
        barrier.wait(timeout=60)
        ensure_synthbirds(root, GEN)
        ds = SynthBirds(root, gen_cfg=GEN, split='all', serialize_data=False)
        queue.put(('ok', len(ds)))
    except BaseException as e:  # report to the parent
        queue.put(('error', repr(e)))


@pytest.mark.skipif(
    'fork' not in mp.get_all_start_methods(),
    reason='needs the fork start method')
def test_concurrent_processes(tmp_path):
    """Three processes (like DDP ranks) start on a missing folder at once."""
    root = str(tmp_path / 'sb')
    ctx = mp.get_context('fork')
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(root, barrier, queue))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [('ok', 18)] * 3
    assert os.listdir(str(tmp_path)) == ['sb']
    assert len(SynthBirds(root, gen_cfg=GEN, split='all')) == 18

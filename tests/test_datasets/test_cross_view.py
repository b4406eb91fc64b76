import filecmp
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmfg.datasets import CrossViewDataset, SynthBirdsCrossView
from mmfg.datasets.synth import (generate_synthbirds, render_overhead,
                                 sample_meta, true_location)
from mmfg.datasets.transforms import (CollectViews, SpatioTemporalMeta,
                                      encode_spatiotemporal)
from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)

LINES = [
    '1 g/a.png s/a.png 10.0 20.0 2020-03-15 1 train',
    '2 g/b.png s/b.png None None None 2 train',
    '3 g/c.png s/c.png -45.5 170.25 2021-12-01 2 test',
]


def _write(root, lines=LINES, classes=('1 Alpha bird', '2 Beta')):
    os.makedirs(root / 'g', exist_ok=True)
    os.makedirs(root / 's', exist_ok=True)
    for name in 'abc':
        cv2.imwrite(str(root / 'g' / f'{name}.png'),
                    np.full((8, 8, 3), 10, np.uint8))
        cv2.imwrite(str(root / 's' / f'{name}.png'),
                    np.full((4, 4, 3), 200, np.uint8))
    (root / 'classes.txt').write_text('\n'.join(classes) + '\n')
    (root / 'cross_view.txt').write_text('\n'.join(lines) + '\n')
    return str(root)


def test_format_is_read(tmp_path):
    root = _write(tmp_path)
    ds = CrossViewDataset(root, split='all')
    assert ds.metainfo['classes'] == ('Alpha bird', 'Beta')
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join(root, 'g/a.png')
    assert info['overhead_path'] == osp.join(root, 's/a.png')
    assert info['gt_label'] == 0 and info['img_id'] == 1
    assert info['meta_info'] == dict(
        latitude=10.0, longitude=20.0, date='2020-03-15', hour=None)
    assert ds.get_data_info(1)['meta_info']['latitude'] is None
    assert len(CrossViewDataset(root, split='test')) == 1
    assert len(CrossViewDataset(root, split='trainval')) == 2


@pytest.mark.parametrize('line, match', [
    ('4 g/a.png s/a.png 95.0 0.0 None 1 train', 'out of range'),
    ('4 g/a.png s/a.png 10.0 None None 1 train', 'both be numbers'),
    ('4 g/a.png s/a.png None None 2020-13-01 1 train', 'YYYY-MM-DD'),
    ('4 g/a.png s/a.png None None None 3 train', 'class id 3'),
    ('4 g/a.png s/a.png None None None 1 dev', 'split must be'),
    ('4 g/a.png s/a.png None None 1 train', 'expected 8'),
    ('4 g/a.png s/a.png north None None 1 train', 'latitude'),
    ('1 g/a.png s/a.png None None None 1 train', 'duplicate'),
])
def test_malformed_rows_name_file_and_line(tmp_path, line, match):
    root = _write(tmp_path, LINES + [line])
    with pytest.raises(AnnotationError, match=match) as err:
        CrossViewDataset(root, split='all')
    assert 'cross_view.txt, line 4' in str(err.value)


def test_missing_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='does not exist'):
        CrossViewDataset(str(tmp_path / 'nope'))
    root = _write(tmp_path)
    os.remove(osp.join(root, 's', 'c.png'))
    with pytest.raises(DatasetNotFoundError, match='overhead image') as err:
        CrossViewDataset(root, split='all')
    assert 'line 3' in str(err.value)
    assert len(CrossViewDataset(root, split='all', check_files=False)) == 3
    os.remove(osp.join(root, 'cross_view.txt'))
    with pytest.raises(DatasetNotFoundError, match='cross_view.txt'):
        CrossViewDataset(root, split='all')
    os.remove(osp.join(root, 'classes.txt'))
    with pytest.raises(DatasetNotFoundError, match='classes.txt'):
        CrossViewDataset(root, split='all')


def test_pipeline_gives_two_views_and_birdsat_meta(tmp_path):
    root = _write(tmp_path)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='KeyMapper',
             mapping=dict(img_path='overhead_path', img='overhead_img'),
             auto_remap=True,
             transforms=[dict(type='LoadImageFromFile')]),
        dict(type='SpatioTemporalMeta', encoding='birdsat'),
        dict(type='CollectViews'),
        dict(type='PackFGInputs'),
    ]
    out = CrossViewDataset(root, split='all', pipeline=pipeline)[0]
    ground, sat = out['inputs']
    assert ground.shape == (3, 8, 8) and int(ground[0, 0, 0]) == 10
    assert sat.shape == (3, 4, 4) and int(sat[0, 0, 0]) == 200
    loc = out['data_samples'].meta['location'].numpy()
    np.testing.assert_allclose(
        loc, [np.sin(np.pi * 10 / 90), np.cos(np.pi * 10 / 90),
              np.sin(np.pi * 20 / 180), np.cos(np.pi * 20 / 180)],
        atol=1e-6)
    with pytest.raises(KeyError, match='overhead_img'):
        CollectViews()(dict(img=np.zeros((2, 2, 3))))


def test_birdsat_meta_encoding_values():
    enc = encode_spatiotemporal(
        dict(latitude=45.0, longitude=-90.0, date='2020-06-31'[:8] + '30'),
        'birdsat')
    np.testing.assert_allclose(enc['location'], [1, 0, -1, 0], atol=1e-6)
    a, b = 2 * np.pi * 6 / 12, 2 * np.pi * 30 / 31
    np.testing.assert_allclose(
        enc['time'], [np.sin(a), np.cos(a), np.sin(b), np.cos(b)], atol=1e-6)
    none = encode_spatiotemporal({}, 'birdsat')
    assert not none['location'].any() and not none['time'].any()
    # the default (MetaFormer) encoding is unchanged
    assert encode_spatiotemporal(dict(latitude=0, longitude=0))[
        'location'].tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match='encoding'):
        SpatioTemporalMeta(encoding='polar')


def test_overhead_depends_on_location():
    near = render_overhead(10.0, 20.0, 32).astype(float)
    same = render_overhead(10.0, 20.0, 32).astype(float)
    close = render_overhead(11.0, 21.0, 32).astype(float)
    far = render_overhead(-50.0, 150.0, 32).astype(float)
    assert np.array_equal(near, same)
    assert np.abs(near - close).mean() < np.abs(near - far).mean() / 3


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    base = tmp_path_factory.mktemp('cv')
    kw = dict(num_classes=2, images_per_class=3, image_size=32, seed=3,
              progress=False)
    plain = str(base / 'plain')
    over = str(base / 'over')
    generate_synthbirds(plain, **kw)
    generate_synthbirds(over, with_overhead=True, **kw)
    return plain, over


def test_synthbirds_overhead_keeps_existing_outputs(generated):
    plain, over = generated
    changed = {'synthbirds.json', 'README.txt'}
    for dirpath, _, files in os.walk(plain):
        rel = osp.relpath(dirpath, plain)
        names = [f for f in files if f not in changed or rel != '.']
        match, mismatch, errors = filecmp.cmpfiles(
            dirpath, osp.join(over, rel), names, shallow=False)
        assert not mismatch and not errors, (rel, mismatch, errors)
    extra = set(os.listdir(over)) - set(os.listdir(plain))
    assert extra == {'overhead', 'cross_view.txt'}


def test_synthbirds_cross_view_index(generated):
    _, over = generated
    ds = SynthBirdsCrossView(
        over, gen_cfg=dict(num_classes=2, images_per_class=3,
                           image_size=32, seed=3), split='all')
    assert len(ds) == 6
    for i in range(6):
        info = ds.get_data_info(i)
        img_id, c = info['img_id'], info['gt_label']
        lat, lon, date, _ = sample_meta(3, img_id, c)
        assert info['meta_info']['date'] == date
        if lat is not None:
            assert info['meta_info']['latitude'] == pytest.approx(lat,
                                                                  abs=1e-4)
        # the tile is drawn at the true location (with per-image noise in
        # the stripe pattern): same mean colour as the noiseless tile
        tile = cv2.imread(info['overhead_path']).astype(float)
        clean = render_overhead(*true_location(3, img_id, c), 32)
        assert np.abs(tile.mean((0, 1)) - clean.mean((0, 1))).max() < 5


def test_empty_classes_and_unknown_argument(tmp_path):
    root = _write(tmp_path, classes=())
    with pytest.raises(AnnotationError) as e:
        CrossViewDataset(root, split='all')
    assert str(e.value).startswith(
        osp.join(root, 'classes.txt') + ': lists no class;')
    root = _write(tmp_path)
    with pytest.raises(ConfigError, match=r'`check_file` \(did you mean '
                       r'`check_files`\?\)'):
        CrossViewDataset(root, check_file=False)


def test_empty_index(tmp_path):
    root = _write(tmp_path, lines=[''])
    with pytest.raises(AnnotationError) as e:
        CrossViewDataset(root)
    assert str(e.value).startswith(
        osp.join(root, 'cross_view.txt') + ': lists no observation;')

"""Meta encoders: spatio-temporal sin/cos and unit-sphere values, text
embedding files, and their wiring through iNaturalist / SynthBirds into
the packed ``meta`` field."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch

from mmfg.datasets import INaturalist, SynthBirds
from mmfg.datasets.transforms import (SpatioTemporalMeta, TextEmbeddingMeta,
                                      encode_spatiotemporal)
from mmfg.registry import TRANSFORMS
from mmfg.utils.errors import ConfigError, DatasetNotFoundError


def test_spatiotemporal_values():
    enc = encode_spatiotemporal(
        dict(latitude=0.0, longitude=90.0, date='2020-03-15', hour=6.0))
    # month 3 -> angle pi/2; hour 6 -> angle pi/2
    assert np.allclose(enc['time'], [1, 0, 1, 0], atol=1e-6)
    assert np.allclose(enc['location'], [0, 1, 0], atol=1e-6)
    enc = encode_spatiotemporal(
        dict(latitude=90.0, longitude=10.0, date='2020-12-01', hour=None))
    assert np.allclose(enc['time'], [0, 1, 0, 0], atol=1e-6)
    assert np.allclose(enc['location'], [0, 0, 1], atol=1e-6)
    lat, lon = 41.0, -73.0
    loc = encode_spatiotemporal(dict(latitude=lat, longitude=lon))['location']
    assert np.isclose(np.linalg.norm(loc), 1.0, atol=1e-6)
    assert np.isclose(math.degrees(math.asin(loc[2])), lat, atol=1e-4)
    assert np.isclose(math.degrees(math.atan2(loc[1], loc[0])), lon,
                      atol=1e-4)
    # missing -> zeros, pair by pair
    enc = encode_spatiotemporal(
        dict(latitude=10.0, longitude=None, date=None, hour=12.0))
    assert np.allclose(enc['location'], 0)
    assert np.allclose(enc['time'], [0, 0, 0, -1], atol=1e-6)
    assert not encode_spatiotemporal(None)['time'].any()
    with pytest.raises(ValueError, match='YYYY-MM-DD'):
        encode_spatiotemporal(dict(date='June 3rd'))


def test_inaturalist_meta_reaches_the_data_sample(tmp_path):
    doc = dict(
        images=[
            dict(id=1, file_name='a.jpg', latitude=0.0, longitude=90.0,
                 date='2021-03-02 06:00:00'),
            dict(id=2, file_name='b.jpg')
        ],
        annotations=[
            dict(id=1, image_id=1, category_id=5),
            dict(id=2, image_id=2, category_id=5)
        ],
        categories=[dict(id=5, name='Apis')])
    with open(tmp_path / 'train.json', 'w') as f:
        json.dump(doc, f)
    ds = INaturalist(
        str(tmp_path),
        ann_file='train.json',
        pipeline=[dict(type='SpatioTemporalMeta'),
                  dict(type='PackFGInputs')])
    meta = ds[0]['data_samples'].meta
    assert torch.allclose(meta['time'], torch.tensor([1., 0, 1, 0]),
                          atol=1e-6)
    assert torch.allclose(meta['location'], torch.tensor([0., 1, 0]),
                          atol=1e-6)
    assert not ds[1]['data_samples'].meta['time'].any()


def test_text_embeddings(tmp_path):
    img_dir, emb_dir = tmp_path / 'images', tmp_path / 'emb'
    (emb_dir / '001.A').mkdir(parents=True)
    rows = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.save(emb_dir / '001.A' / 'x.npy', rows)
    np.save(emb_dir / '001.A' / 'v.npy', np.ones(4, np.float32))
    img = str(img_dir / '001.A' / 'x.jpg')
    pad = TRANSFORMS.build(
        dict(type='TextEmbeddingMeta', embed_dir=str(emb_dir),
             img_dir=str(img_dir), num_tokens=5))
    out = pad(dict(img_path=img, meta=dict(time=np.zeros(4))))
    assert out['meta']['text'].dtype == np.float32
    assert np.array_equal(out['meta']['text'][:3], rows)
    assert not out['meta']['text'][3:].any() and 'time' in out['meta']
    cut = TextEmbeddingMeta(str(emb_dir), str(img_dir), num_tokens=2)
    assert np.array_equal(cut(dict(img_path=img))['meta']['text'], rows[:2])
    mean = TextEmbeddingMeta(str(emb_dir), str(img_dir))
    assert np.allclose(mean(dict(img_path=img))['meta']['text'], [4, 5, 6, 7])
    vec = mean(dict(img_path=str(img_dir / '001.A' / 'v.png')))
    assert np.array_equal(vec['meta']['text'], np.ones(4))
    with pytest.raises(DatasetNotFoundError, match='y.npy'):
        mean(dict(img_path=str(img_dir / '001.A' / 'y.jpg')))
    with pytest.raises(ValueError, match='not inside img_dir'):
        mean(dict(img_path=str(tmp_path / 'elsewhere.jpg')))
    np.save(emb_dir / '001.A' / 'z.npy', np.array(['a', 'b']))
    with pytest.raises(ValueError, match='numeric'):
        mean(dict(img_path=str(img_dir / '001.A' / 'z.jpg')))
    with pytest.raises(ConfigError, match='num_tokens'):
        TextEmbeddingMeta(str(emb_dir), str(img_dir), num_tokens=0)
    with pytest.raises(TypeError, match='dict'):
        SpatioTemporalMeta()(dict(meta=np.zeros(3)))


GEN = dict(num_classes=4, images_per_class=10, image_size=48, seed=0)


def test_synthbirds_meta_is_class_correlated(tmp_path):
    root = str(tmp_path / 'sb_meta')
    ds = SynthBirds(root, gen_cfg=dict(GEN, with_meta=True), split='all',
                    with_meta=True)
    assert ds.gen_cfg['with_meta'] is True
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    enc = [encode_spatiotemporal(i['meta_info']) for i in infos]
    labels = np.array([i['gt_label'] for i in infos])
    loc = np.stack([e['location'] for e in enc])
    known = np.abs(loc).sum(1) > 0
    assert 0.5 < known.mean() < 1  # some locations are missing
    # nearest class-mean location predicts the class far above chance
    means = np.stack([loc[known & (labels == c)].mean(0) for c in range(4)])
    pred = (loc[known] @ means.T).argmax(1)
    assert (pred == labels[known]).mean() > 0.8
    # the images are the ones generated without meta
    plain = SynthBirds(str(tmp_path / 'sb'), gen_cfg=GEN, split='all')
    assert 'with_meta' not in plain.gen_cfg  # old folders stay valid
    for name in ('images.txt', 'bounding_boxes.txt'):
        with open(osp.join(root, name)) as a, \
                open(osp.join(plain.data_root, name)) as b:
            assert a.read() == b.read()
    img = infos[0]['img_path']
    with open(img, 'rb') as a, open(plain.get_data_info(0)['img_path'],
                                    'rb') as b:
        assert a.read() == b.read()
    with pytest.raises(ConfigError, match='with_meta=True to gen_cfg'):
        SynthBirds(plain.data_root, gen_cfg=GEN, with_meta=True)

import copy
import json
import math
import os.path as osp

import pytest
from mmengine.registry import init_default_scope

from mmfg.datasets import INaturalist
from mmfg.datasets.inaturalist import parse_date
from mmfg.registry import DATASETS
from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)

CATEGORIES = [  # deliberately not sorted by id, ids sparse
    dict(
        id=40,
        name='Turdus migratorius',
        supercategory='Aves',
        kingdom='Animalia'),
    dict(
        id=3, name='Quercus alba', supercategory='Plantae', kingdom='Plantae'),
    dict(
        id=17,
        name='Apis mellifera',
        supercategory='Insecta',
        kingdom='Animalia'),
]


def _dump(path, doc):
    with open(path, 'w') as f:
        json.dump(doc, f)
    return str(path)


def _doc_2021():
    images = [
        dict(
            id=10,
            file_name='train/00040_Turdus/a.jpg',
            latitude=42.5,
            longitude=-71.25,
            date='2013-06-03 19:15:00+00:00'),
        dict(
            id=11,
            file_name='train/00003_Quercus/b.jpg',
            latitude=None,
            longitude=None,
            date='2019-11-05'),
        dict(
            id=12,
            file_name='train/00017_Apis/c.jpg',
            latitude=float('nan'),
            longitude=500.0,
            date='not a date'),
        dict(id=13, file_name='train/00017_Apis/d.jpg'),
    ]
    annotations = [
        dict(id=1, image_id=10, category_id=40),
        dict(id=2, image_id=11, category_id=3),
        dict(id=3, image_id=12, category_id=17),
        dict(id=4, image_id=13, category_id=17),
    ]
    return dict(
        images=images,
        annotations=annotations,
        categories=copy.deepcopy(CATEGORIES))


def test_2021_with_meta(tmp_path):
    _dump(tmp_path / 'train.json', _doc_2021())
    with pytest.warns(UserWarning, match='2 unreadable'):
        ds = INaturalist(str(tmp_path), ann_file='train.json')
    # contiguous labels by sorted category id: 3, 17, 40
    assert ds.metainfo['classes'] == ('Quercus alba', 'Apis mellifera',
                                      'Turdus migratorius')
    assert ds.metainfo['class_ids'] == (3, 17, 40)
    assert ds.metainfo['category_info'][2]['kingdom'] == 'Animalia'
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['gt_label'] for i in infos] == [2, 0, 1, 1]
    assert [i['img_id'] for i in infos] == [10, 11, 12, 13]
    assert infos[0]['img_path'] == osp.join(
        str(tmp_path), 'train/00040_Turdus/a.jpg')
    assert infos[0]['meta_info'] == dict(
        latitude=42.5, longitude=-71.25, date='2013-06-03', hour=19.25)
    assert infos[1]['meta_info'] == dict(
        latitude=None, longitude=None, date='2019-11-05', hour=None)
    # NaN latitude is missing; out-of-range longitude and bad date -> None
    assert infos[2]['meta_info'] == dict(
        latitude=None, longitude=None, date=None, hour=None)
    assert infos[3]['meta_info'] == dict(
        latitude=None, longitude=None, date=None, hour=None)
    no_meta = INaturalist(
        str(tmp_path), ann_file='train.json', with_meta=False)
    assert 'meta_info' not in no_meta.get_data_info(0)


def test_2018_with_locations_file(tmp_path):
    doc = _doc_2021()
    for img in doc['images']:  # 2018 images carry no meta
        for key in ('latitude', 'longitude', 'date'):
            img.pop(key, None)
    _dump(tmp_path / 'train2018.json', doc)
    _dump(
        tmp_path / 'train2018_locations.json',
        [
            dict(id=10, lat=-33.9, lon=151.2, date='2017-11-05T08:30:00'),
            dict(id=12, lat=None, lon=None, date=None),
            dict(id=999, lat=1.0, lon=2.0, date='2017-01-01'),  # other split
        ])
    ds = INaturalist(
        str(tmp_path),
        ann_file='train2018.json',
        data_prefix='imgs',
        locations_file='train2018_locations.json')
    assert ds.get_data_info(0)['img_path'] == osp.join(
        str(tmp_path), 'imgs', 'train/00040_Turdus/a.jpg')
    assert ds.get_data_info(0)['meta_info'] == dict(
        latitude=-33.9, longitude=151.2, date='2017-11-05', hour=8.5)
    for i in (1, 2, 3):
        assert ds.get_data_info(i)['meta_info'] == dict(
            latitude=None, longitude=None, date=None, hour=None)


def test_test_file_without_labels_lazy_and_registry(tmp_path):
    doc = _doc_2021()
    del doc['annotations']
    _dump(tmp_path / 'test.json', doc)
    init_default_scope('mmfg')
    ds = DATASETS.build(
        dict(
            type='INaturalist',
            data_root=str(tmp_path),
            ann_file='test.json',
            lazy_init=True,
            with_meta=False))
    assert type(ds) is INaturalist and not ds._fully_initialized
    assert len(ds.metainfo['classes']) == 3
    assert len(ds) == 4
    assert 'gt_label' not in ds.get_data_info(0)


def test_class_split(tmp_path):
    _dump(tmp_path / 'train.json', _doc_2021())
    ds = INaturalist(
        str(tmp_path),
        ann_file='train.json',
        with_meta=False,
        class_split='second',
        num_first_classes=1)
    assert ds.metainfo['class_ids'] == (17, 40)
    assert [ds.get_data_info(i)['gt_label']
            for i in range(len(ds))] == [1, 0, 0]


def test_parse_date():
    assert parse_date('2010-07-21 00:00:00+00:00') == ('2010-07-21', 0.0)
    assert parse_date('2010/7/1') == ('2010-07-01', None)
    assert parse_date('2010-02-30') == (None, None)
    assert parse_date(None) == (None, None)
    date, hour = parse_date('2012-05-23 17:04:30')
    assert date == '2012-05-23' and math.isclose(hour, 17 + 4 / 60 + 30 / 3600)


# ---------------------------------------------------------------- bad input
def test_missing_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='inat_comp') as e:
        INaturalist(str(tmp_path), ann_file='train2018.json')
    assert e.value.path == osp.join(str(tmp_path), 'train2018.json')
    _dump(tmp_path / 'train.json', _doc_2021())
    with pytest.raises(DatasetNotFoundError, match='locations'):
        INaturalist(
            str(tmp_path), ann_file='train.json', locations_file='nope.json')


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / 'train.json'
    path.write_text('{"images": [\n{"id": 1,\n "file_name": }\n]}')
    with pytest.raises(AnnotationError, match='invalid JSON') as e:
        INaturalist(str(tmp_path), ann_file='train.json')
    assert (e.value.path, e.value.lineno) == (str(path), 3)


@pytest.mark.parametrize('mutate,match', [
    (lambda d: d['annotations'].pop(1),
     r'images\[1\] \(id 11\) has no entry in "annotations"'),
    (lambda d: d['annotations'][0].update(category_id=5),
     r'annotations\[0\]: category_id 5'),
    (lambda d: d['annotations'].append(dict(image_id=10, category_id=3)),
     'second annotation'),
    (lambda d: d['annotations'].append(dict(image_id=77, category_id=3)),
     'image_id 77'),
    (lambda d: d['images'][2].update(id=10), r'images\[2\]: duplicate id 10'),
    (lambda d: d['images'][0].pop('file_name'), r'images\[0\] needs'),
    (lambda d: d['categories'].append(dict(id=3, name='x')),
     'duplicate category id 3'),
    (lambda d: d.pop('categories'), 'no "categories" list'),
])
def test_malformed_annotations(tmp_path, mutate, match):
    doc = _doc_2021()
    mutate(doc)
    path = _dump(tmp_path / 'train.json', doc)
    with pytest.raises(AnnotationError, match=match) as e:
        INaturalist(str(tmp_path), ann_file='train.json', with_meta=False)
    assert e.value.path == path


def test_locations_of_another_split(tmp_path):
    _dump(tmp_path / 'train.json', _doc_2021())
    path = _dump(tmp_path / 'val_locations.json',
                 [dict(id=500, lat=1.0, lon=1.0, date='2018-01-01')])
    with pytest.raises(AnnotationError, match='another split') as e:
        INaturalist(
            str(tmp_path),
            ann_file='train.json',
            locations_file='val_locations.json')
    assert e.value.path == path


def test_split_is_the_file(tmp_path):
    _dump(tmp_path / 'train.json', _doc_2021())
    ds = INaturalist(
        str(tmp_path), ann_file='train.json', split='all', with_meta=False)
    assert len(ds) == 4
    for kwargs in (dict(split='val'), dict(val_ratio=0.1)):
        key = next(iter(kwargs))
        with pytest.raises(ConfigError) as e:
            INaturalist(str(tmp_path), ann_file='train.json', **kwargs)
        assert str(e.value) == (
            f'INaturalist: do not pass `{key}`: the split is the annotation '
            "file (e.g. ann_file='val2018.json'); the only split is 'all'. "
            f'Remove `{key}` from the dataset config.')
    with pytest.raises(ConfigError, match=r'did you mean `with_meta`'):
        INaturalist(str(tmp_path), ann_file='train.json', with_metas=False)


def test_empty_categories_and_string_category_id(tmp_path):
    doc = _doc_2021()
    doc['annotations'][1]['category_id'] = '3'
    path = _dump(tmp_path / 'train.json', doc)
    with pytest.raises(AnnotationError) as e:
        INaturalist(str(tmp_path), ann_file='train.json')
    assert str(e.value) == (f"{path}: annotations[1]: category_id '3' is "
                            'not an id of "categories".')
    doc['categories'] = []
    _dump(tmp_path / 'train.json', doc)
    with pytest.raises(AnnotationError, match='"categories" is empty') as e:
        INaturalist(str(tmp_path), ann_file='train.json', lazy_init=True)
    assert e.value.path == path


def test_empty_images(tmp_path):
    doc = _doc_2021()
    doc['images'], doc['annotations'] = [], []
    path = _dump(tmp_path / 'train.json', doc)
    with pytest.raises(AnnotationError) as e:
        INaturalist(str(tmp_path), ann_file='train.json')
    assert str(e.value).startswith(f'{path}: "images" is empty;')

import os
import os.path as osp

import numpy as np
import pytest
import scipy.io
from fg_dataset_fixtures import write_image
from mmengine.registry import init_default_scope

from mmfg.datasets import StanfordCars
from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError

CLASS_NAMES = [
    'AM General Hummer SUV 2000', 'Acura RL Sedan 2012', 'Audi R8 Coupe 2012',
    'BMW M3 Coupe 2012'
]


def _names():
    cell = np.empty((1, len(CLASS_NAMES)), dtype=object)
    for i, n in enumerate(CLASS_NAMES):
        cell[0, i] = np.array([n])
    return cell


def _struct(records, fields):
    arr = np.zeros((1, len(records)), dtype=[(f, 'O') for f in fields])
    for i, rec in enumerate(records):
        arr[0, i] = tuple(
            np.array([rec[f]]) if isinstance(rec[f], str) else np.
            array([[rec[f]]], dtype=np.uint16 if f != 'test' else np.uint8)
            for f in fields)
    return arr


def _record(n, label):
    return dict(
        bbox_x1=n,
        bbox_y1=n + 1,
        bbox_x2=n + 30,
        bbox_y2=n + 20,
        **{'class': label})


def write_devkit(root, per_class=4, num_train=3, test_in_devkit=False):
    train, test = [], []
    for c in range(1, len(CLASS_NAMES) + 1):
        for k in range(per_class):
            records = train if k < num_train else test
            fname = f'{len(records) + 1:05d}.jpg'
            rec = dict(_record(10 * c + k, c), fname=fname)
            records.append(rec)
            folder = 'cars_train' if k < num_train else 'cars_test'
            write_image(osp.join(root, folder, fname), c)
    fields = ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname']
    os.makedirs(osp.join(root, 'devkit'))
    scipy.io.savemat(
        osp.join(root, 'devkit', 'cars_meta.mat'), dict(class_names=_names()))
    scipy.io.savemat(
        osp.join(root, 'devkit', 'cars_train_annos.mat'),
        dict(annotations=_struct(train, fields)))
    test_dir = osp.join(root, 'devkit') if test_in_devkit else root
    scipy.io.savemat(
        osp.join(test_dir, 'cars_test_annos_withlabels.mat'),
        dict(annotations=_struct(test, fields)))
    return dict(train=train, test=test)


@pytest.fixture
def cars(tmp_path):
    root = str(tmp_path / 'cars')
    info = write_devkit(root)
    info['root'] = root
    return info


@pytest.mark.parametrize('test_in_devkit', [False, True])
def test_devkit_layout(tmp_path, test_in_devkit):
    root = str(tmp_path / 'cars')
    info = write_devkit(root, test_in_devkit=test_in_devkit)
    ds = StanfordCars(root, split='test')
    assert ds.metainfo['classes'] == tuple(CLASS_NAMES)
    assert len(ds) == 4
    for i, rec in enumerate(info['test']):
        sample = ds.get_data_info(i)
        assert sample['img_path'] == osp.join(root, 'cars_test', rec['fname'])
        assert osp.exists(sample['img_path'])
        assert sample['gt_label'] == rec['class'] - 1
        np.testing.assert_allclose(
            sample['gt_bboxes'],
            [[rec['bbox_x1'], rec['bbox_y1'], rec['bbox_x2'], rec['bbox_y2']]])
        assert sample['gt_bboxes'].dtype == np.float32
    counts = {
        s: len(StanfordCars(root, split=s, val_ratio=0.34))
        for s in ('train', 'val', 'trainval', 'all')
    }
    assert counts == dict(train=8, val=4, trainval=12, all=16)


def test_single_file_layout(tmp_path):
    root = str(tmp_path / 'cars')
    records = []
    for n in range(8):
        rel = f'car_ims/{n + 1:06d}.jpg'
        write_image(osp.join(root, rel), n)
        records.append(
            dict(_record(n, n % 4 + 1), relative_im_path=rel, test=n // 4))
    fields = [
        'relative_im_path', 'bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2',
        'class', 'test'
    ]
    scipy.io.savemat(
        osp.join(root, 'cars_annos.mat'),
        dict(annotations=_struct(records, fields), class_names=_names()))
    test = StanfordCars(root, split='test', with_bbox=False)
    assert len(test) == 4
    assert test.get_data_info(0)['img_path'] == osp.join(
        root, 'car_ims', '000005.jpg')
    assert test.get_gt_labels().tolist() == [0, 1, 2, 3]
    assert 'gt_bboxes' not in test.get_data_info(0)
    train = StanfordCars(root, split='train', val_ratio=0)
    np.testing.assert_allclose(
        train.get_data_info(2)['gt_bboxes'], [[2, 3, 32, 22]])


def test_metric_learning_split_and_registry(cars):
    init_default_scope('mmfg')
    first = DATASETS.build(
        dict(type='StanfordCars', data_root=cars['root'], class_split='first'))
    second = StanfordCars(cars['root'], class_split='second', lazy_init=True)
    assert first.metainfo['classes'] == tuple(CLASS_NAMES[:2])
    assert second.metainfo['classes'] == tuple(CLASS_NAMES[2:])
    assert len(first) == len(second) == 8  # all images of the classes
    assert sorted(set(second.get_gt_labels())) == [0, 1]


# ---------------------------------------------------------------- bad input
def test_missing_files(cars, tmp_path):
    with pytest.raises(DatasetNotFoundError, match='car_devkit'):
        StanfordCars(str(tmp_path / 'nothing'))
    os.remove(osp.join(cars['root'], 'cars_test_annos_withlabels.mat'))
    assert len(StanfordCars(cars['root'], split='trainval')) == 12
    with pytest.raises(
            DatasetNotFoundError, match='cars_test_annos_withlabels') as e:
        StanfordCars(cars['root'], split='test')
    assert e.value.path.endswith('cars_test_annos_withlabels.mat')
    os.remove(osp.join(cars['root'], 'devkit', 'cars_meta.mat'))
    with pytest.raises(DatasetNotFoundError, match='cars_meta.mat'):
        StanfordCars(cars['root'], lazy_init=True)


def _rewrite_train(cars, mutate, fields=None):
    fields = fields or [
        'bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname'
    ]
    records = [dict(r) for r in cars['train']]
    mutate(records)
    path = osp.join(cars['root'], 'devkit', 'cars_train_annos.mat')
    scipy.io.savemat(path, dict(annotations=_struct(records, fields)))
    return path


@pytest.mark.parametrize('mutate,fields,match', [
    (lambda r: r[2].update({'class': 9}), None,
     r'annotations\[2\]: class must be an integer in 1..4, got 9'),
    (lambda r: r[1].update(bbox_x2=0), None, r'annotations\[1\]: bbox_x2'),
    (lambda r: None, ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'fname'
                      ], 'has no field "class"'),
])
def test_bad_annotations(cars, mutate, fields, match):
    path = _rewrite_train(cars, mutate, fields)
    with pytest.raises(AnnotationError, match=match) as e:
        StanfordCars(cars['root'])
    assert e.value.path == path


def test_wrong_variable(cars):
    path = osp.join(cars['root'], 'devkit', 'cars_train_annos.mat')
    scipy.io.savemat(path, dict(annos=np.zeros(3)))
    with pytest.raises(AnnotationError, match='no variable "annotations"'):
        StanfordCars(cars['root'])


def test_duplicate_image_record(cars):
    path = _rewrite_train(cars, lambda r: r.append(dict(r[1])))
    with pytest.raises(AnnotationError) as e:
        StanfordCars(cars['root'])
    assert str(e.value).startswith(
        f'{path}: annotations[12]: image "00002.jpg" is already annotated '
        f'by annotations[1] of "{path}".')


def test_empty_annotations_and_class_names(cars):
    path = _rewrite_train(cars, lambda r: r.clear())
    with pytest.raises(AnnotationError) as e:
        StanfordCars(cars['root'], split='trainval')
    assert str(e.value) == (f'{path}: "annotations" is empty. Download the '
                            'file again.')
    meta = osp.join(cars['root'], 'devkit', 'cars_meta.mat')
    scipy.io.savemat(meta, dict(class_names=np.empty((1, 0), dtype=object)))
    with pytest.raises(AnnotationError, match='"class_names" is empty') as e:
        StanfordCars(cars['root'], lazy_init=True)
    assert e.value.path == meta

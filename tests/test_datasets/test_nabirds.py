import os.path as osp

import numpy as np
import pytest
from fg_dataset_fixtures import (NABIRDS_PART_NAMES, append_line, replace_line,
                                 write_nabirds)
from mmengine.registry import init_default_scope

from mmfg.datasets import NABirds
from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError


@pytest.fixture
def nab(tmp_path):
    root = str(tmp_path / 'nabirds')
    info = write_nabirds(root)
    info['root'] = root
    return info


def test_sparse_classes_map_to_contiguous_labels(nab):
    ds = NABirds(nab['root'], split='all')
    # classes with images only, in id order; original ids kept
    assert ds.metainfo['classes'] == ('Sharp-shinned Hawk (Adult)',
                                      'Red-tailed Hawk', 'American Robin')
    assert ds.metainfo['class_ids'] == (295, 298, 313)
    assert len(ds) == 12
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        uuid = nab['uuids'][i]
        assert info['img_uuid'] == uuid
        assert info['img_id'] == i + 1
        assert info['gt_label'] == [295, 298, 313].index(nab['class_of'][uuid])
        assert osp.exists(info['img_path'])
        x, y, w, h = nab['box'][uuid]
        np.testing.assert_allclose(info['gt_bboxes'], [[x, y, x + w, y + h]])


def test_hierarchy_and_ancestors(nab):
    ds = NABirds(nab['root'], lazy_init=True)
    assert ds.hierarchy == {1: 0, 2: 0, 295: 2, 298: 2, 313: 1, 400: 1}
    assert ds.ancestors[295] == [2, 0]
    assert ds.ancestors[313] == [1, 0]
    assert ds.ancestors[0] == []
    assert not ds._fully_initialized


def test_parts_are_zero_based(nab):
    ds = NABirds(nab['root'], split='all')
    assert ds.metainfo['part_names'] == NABIRDS_PART_NAMES
    assert ds.metainfo['part_flip_pairs'] == [(3, 4), (9, 10)]
    info = ds.get_data_info(0)  # image n=1: part p visible iff p is odd
    parts = info['gt_parts']
    assert parts.shape == (11, 3)
    np.testing.assert_array_equal(parts[0], [0, 0, 0])
    np.testing.assert_allclose(parts[1], [11, 21, 1])
    assert info['part_flip_pairs'] == [(3, 4), (9, 10)]


def test_splits_and_class_split(nab):
    root = nab['root']
    counts = {
        s: len(NABirds(root, split=s, val_ratio=0.34))
        for s in ('train', 'val', 'trainval', 'test')
    }
    assert counts == dict(train=6, val=3, trainval=9, test=3)
    first = NABirds(root, class_split='first')  # 3 classes -> 1 / 2
    assert first.metainfo['classes'] == ('Sharp-shinned Hawk (Adult)', )
    assert len(first) == 4 and set(first.get_gt_labels()) == {0}
    second = NABirds(root, class_split='second')
    assert second.metainfo['class_ids'] == (298, 313)
    assert sorted(set(second.get_gt_labels())) == [0, 1]


def test_build_from_registry(nab):
    init_default_scope('mmfg')
    ds = DATASETS.build(
        dict(
            type='NABirds',
            data_root=nab['root'],
            split='test',
            with_parts=False))
    assert len(ds) == 3 and 'gt_parts' not in ds.get_data_info(0)


# ---------------------------------------------------------------- bad input
def test_missing_root_and_hierarchy(nab, tmp_path):
    with pytest.raises(DatasetNotFoundError, match='allaboutbirds'):
        NABirds(str(tmp_path / 'missing'))
    import os
    os.remove(osp.join(nab['root'], 'hierarchy.txt'))
    with pytest.raises(DatasetNotFoundError, match='hierarchy.txt'):
        NABirds(nab['root'])


def test_label_not_in_classes(nab):
    path = osp.join(nab['root'], 'image_class_labels.txt')
    replace_line(path, 2, f'{nab["uuids"][1]} 777')
    with pytest.raises(AnnotationError, match='class id 777') as e:
        NABirds(nab['root'], lazy_init=True)
    assert (e.value.path, e.value.lineno) == (path, 2)


@pytest.mark.parametrize('line,lineno,match', [
    ('295 999', 3, 'parent id 999'),
    ('1 0 extra', 1, 'expected 2'),
    ('1 2', 7, 'duplicate child_id 1'),
])
def test_bad_hierarchy(nab, line, lineno, match):
    path = osp.join(nab['root'], 'hierarchy.txt')
    if lineno == 7:
        append_line(path, line)
    else:
        replace_line(path, lineno, line)
    with pytest.raises(AnnotationError, match=match) as e:
        NABirds(nab['root'])
    assert (e.value.path, e.value.lineno) == (path, lineno)


def test_hierarchy_cycle(nab):
    path = osp.join(nab['root'], 'hierarchy.txt')
    replace_line(path, 1, '1 313')  # 313 -> 1 -> 313
    with pytest.raises(AnnotationError, match='cycle'):
        NABirds(nab['root'])


def test_unknown_uuid_in_boxes(nab):
    path = osp.join(nab['root'], 'bounding_boxes.txt')
    replace_line(path, 4, 'ffffffff-0000-0000-0000-000000000000 1 2 3 4')
    with pytest.raises(AnnotationError, match='unknown image id') as e:
        NABirds(nab['root'])
    assert (e.value.path, e.value.lineno) == (path, 4)


def test_image_without_split(nab):
    path = osp.join(nab['root'], 'train_test_split.txt')
    replace_line(path, 12, None)
    with pytest.raises(AnnotationError, match=nab['uuids'][11]) as e:
        NABirds(nab['root'])
    assert e.value.path == path

import os
import os.path as osp

import numpy as np
import pytest
from fg_dataset_fixtures import (CUB_PART_NAMES, append_line, cub_attribute,
                                 cub_box, cub_part, replace_line, write_cub)
from mmengine.registry import init_default_scope

from mmfg.datasets import CUB
from mmfg.registry import DATASETS
from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)


@pytest.fixture
def cub(tmp_path):
    root = str(tmp_path / 'CUB_200_2011')
    info = write_cub(root)
    info['root'] = root
    return info


def _ids(ds):
    return [ds.get_data_info(i)['img_id'] for i in range(len(ds))]


def test_splits_partition_the_data(cub):
    root = cub['root']
    sets = {
        split: _ids(CUB(root, split=split, val_ratio=0.25))
        for split in ('train', 'val', 'trainval', 'test', 'all')
    }
    assert {
        k: len(v)
        for k, v in sets.items()
    } == dict(
        train=12, val=4, trainval=16, test=8, all=24)
    train, val, test = (set(sets[k]) for k in ('train', 'val', 'test'))
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(range(1, 25))
    official_train = {i for i, t in cub['is_train'].items() if t}
    assert set(sets['trainval']) == official_train == train | val
    assert set(sets['test']) == set(range(1, 25)) - official_train
    # default split is train; val_ratio=0 gives MMPretrain's official train
    assert len(CUB(root)) == len(CUB(root, split='train', val_ratio=0.1))
    assert set(_ids(CUB(root, split='train', val_ratio=0))) == official_train


def test_labels_paths_and_classes(cub):
    root = cub['root']
    ds = CUB(root, split='all')
    assert ds.metainfo['classes'] == ('Bird_1', 'Bird_2', 'Bird_3', 'Bird_4')
    assert ds.metainfo['class_ids'] == (1, 2, 3, 4)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        img_id = info['img_id']
        assert info['gt_label'] == cub['label'][img_id]
        assert info['img_path'] == osp.join(root, 'images',
                                            cub['paths'][img_id])
        assert osp.isabs(info['img_path']) and osp.exists(info['img_path'])
    assert ds.get_gt_labels().tolist() == [
        c for c in range(4) for _ in range(6)
    ]


def test_boxes_xywh_to_xyxy(cub):
    ds = CUB(cub['root'], split='all')
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        x, y, w, h = cub_box(info['img_id'])
        assert info['gt_bboxes'].dtype == np.float32
        np.testing.assert_allclose(info['gt_bboxes'], [[x, y, x + w, y + h]])
    first = ds.get_data_info(0)['gt_bboxes']
    np.testing.assert_allclose(first, [[1, 2, 11.5, 7]])


def test_parts_visibility_and_flip_pairs(cub):
    ds = CUB(cub['root'], split='all')
    assert ds.metainfo['part_names'] == CUB_PART_NAMES
    # left eye <-> right eye, left leg <-> right leg, left wing <-> right wing
    assert ds.metainfo['part_flip_pairs'] == [(6, 10), (7, 11), (8, 12)]
    num_invisible = 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        parts = info['gt_parts']
        assert parts.shape == (15, 3) and parts.dtype == np.float32
        assert info['part_flip_pairs'] == [(6, 10), (7, 11), (8, 12)]
        for p in range(15):
            x, y, v = cub_part(info['img_id'], p + 1)
            if v:
                np.testing.assert_allclose(parts[p], [x, y, 1])
            else:
                # the file has junk coordinates for invisible parts
                np.testing.assert_array_equal(parts[p], [0, 0, 0])
                num_invisible += 1
    assert num_invisible > 0


def test_without_boxes_and_parts(cub):
    info = CUB(cub['root'], with_bbox=False, with_parts=False).get_data_info(0)
    assert set(info) == {'img_path', 'img_id', 'gt_label', 'sample_idx'}


def test_attributes_with_malformed_real_line(cub):
    root = cub['root']
    # attributes.txt sits one level up, as in the original archive
    assert not osp.exists(osp.join(root, 'attributes', 'attributes.txt'))
    ds = CUB(root, split='all', with_attributes=True)
    assert ds.metainfo['attribute_names'][0] == 'has_part_1::value_1'
    assert len(ds.metainfo['attribute_names']) == 5
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['attributes'].dtype == np.float32
        assert info['attribute_certainty'].dtype == np.int64
        expected = [cub_attribute(info['img_id'], a) for a in range(1, 6)]
        np.testing.assert_array_equal(info['attributes'],
                                      [p for p, _ in expected])
        np.testing.assert_array_equal(info['attribute_certainty'],
                                      [c for _, c in expected])
    # image 2 has no row for attribute 3 -> certainty 0
    assert ds.get_data_info(1)['attribute_certainty'][2] == 0
    # the line with an extra field (image 1, attribute 2) is read correctly
    assert ds.get_data_info(0)['attribute_certainty'][1] == 4
    assert ds.get_data_info(0)['attributes'][1] == 0.0


def test_attributes_file_in_attributes_folder(tmp_path):
    root = str(tmp_path / 'CUB')
    write_cub(root, attributes_up=False, images=False, masks=False, text=False)
    ds = CUB(root, split='all', with_attributes=True)
    assert len(ds.metainfo['attribute_names']) == 5


def test_class_attributes(cub):
    ds = CUB(cub['root'])
    assert ds.class_attributes.shape == (4, 5)
    assert ds.class_attributes.dtype == np.float32
    np.testing.assert_allclose(ds.class_attributes[2], [20, 21, 22, 23, 24])
    second = CUB(cub['root'], class_split='second')
    np.testing.assert_allclose(second.class_attributes,
                               ds.class_attributes[2:])
    os.remove(
        osp.join(cub['root'], 'attributes',
                 'class_attribute_labels_continuous.txt'))
    assert CUB(cub['root']).class_attributes is None


def test_val_split_deterministic_disjoint_stratified(tmp_path):
    root = str(tmp_path / 'CUB')
    info = write_cub(
        root,
        num_classes=3,
        per_class=24,
        num_train=20,
        images=False,
        masks=False,
        text=False)
    kw = dict(val_ratio=0.25, with_bbox=False, with_parts=False)
    val = _ids(CUB(root, split='val', **kw))
    assert val == _ids(CUB(root, split='val', **kw))  # same seed, same split
    assert val != _ids(CUB(root, split='val', val_seed=1, **kw))
    train = _ids(CUB(root, split='train', **kw))
    assert not set(val) & set(train)
    assert sorted(val + train) == sorted(i
                                         for i, t in info['is_train'].items()
                                         if t)
    # stratified: round(0.25 * 20) = 5 per class
    labels = [info['label'][i] for i in val]
    assert [labels.count(c) for c in range(3)] == [5, 5, 5]
    # a class's choice does not depend on the other classes
    first = CUB(
        root, split='val', class_split='first', num_first_classes=1, **kw)
    assert _ids(first) == [i for i in val if info['label'][i] == 0]


def test_val_ratio_zero_has_no_val(cub):
    with pytest.raises(ConfigError, match='val_ratio'):
        CUB(cub['root'], split='val', val_ratio=0)


def test_class_disjoint_split(cub):
    root = cub['root']
    first = CUB(root, class_split='first')
    second = CUB(root, class_split='second')
    assert first.split == second.split == 'all'
    assert first.metainfo['classes'] == ('Bird_1', 'Bird_2')
    assert second.metainfo['classes'] == ('Bird_3', 'Bird_4')
    assert second.metainfo['class_ids'] == (3, 4)
    assert set(_ids(first)) == set(cub['ids'][0] + cub['ids'][1])
    assert set(_ids(second)) == set(cub['ids'][2] + cub['ids'][3])
    for ds, offset in ((first, 0), (second, 2)):
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            assert info['gt_label'] == cub['label'][info['img_id']] - offset
    assert sorted(set(second.get_gt_labels())) == [0, 1]
    one = CUB(root, class_split='second', num_first_classes=1)
    assert one.metainfo['classes'] == ('Bird_2', 'Bird_3', 'Bird_4')
    assert len(one) == 18
    # composes with an explicit split
    test_first = CUB(root, split='test', class_split='first')
    assert len(test_first) == 4
    with pytest.raises(ConfigError, match='num_first_classes'):
        CUB(root, class_split='first', num_first_classes=4)
    with pytest.raises(ConfigError, match='class_split'):
        CUB(root, class_split='third')


def test_masks_and_text(cub):
    ds = CUB(cub['root'], split='test', with_mask=True, with_text=True)
    info = ds.get_data_info(0)
    rel = cub['paths'][info['img_id']]
    assert info['gt_mask_path'] == osp.join(cub['root'], 'segmentations',
                                            rel[:-4] + '.png')
    assert osp.exists(info['gt_mask_path'])
    assert info['text_path'].endswith(rel[:-4] + '.txt')
    assert info['texts'] == [
        f'a bird number {info["img_id"]}.', 'it has a beak.'
    ]


def test_text_c10_folder_is_found(cub):
    os.rename(osp.join(cub['root'], 'text'), osp.join(cub['root'], 'text_c10'))
    info = CUB(cub['root'], with_text=True).get_data_info(0)
    assert '/text_c10/' in info['text_path']


def test_lazy_init(cub):
    ds = CUB(cub['root'], split='test', lazy_init=True, with_attributes=True)
    assert not ds._fully_initialized
    assert ds.metainfo['classes'][0] == 'Bird_1'
    assert len(ds.metainfo['part_names']) == 15
    assert ds.class_attributes.shape == (4, 5)
    assert len(ds) == 8
    assert ds._fully_initialized


@pytest.mark.parametrize('serialize', [True, False])
def test_get_data_info_returns_copies(cub, serialize):
    ds = CUB(cub['root'], serialize_data=serialize, with_attributes=True)
    info = ds.get_data_info(0)
    info['gt_bboxes'][:] = -1
    info['gt_parts'][:] = -1
    info['attributes'][:] = -1
    info['part_flip_pairs'].clear()
    info['gt_label'] = 99
    again = ds.get_data_info(0)
    assert again['gt_label'] != 99
    assert (again['gt_bboxes'] >= 0).all() and (again['gt_parts'] >= 0).all()
    assert (again['attributes'] >= 0).all()
    assert again['part_flip_pairs'] == [(6, 10), (7, 11), (8, 12)]


def test_build_from_registry(cub):
    init_default_scope('mmfg')
    ds = DATASETS.build(dict(type='CUB', data_root=cub['root'], split='test'))
    assert type(ds) is CUB and len(ds) == 8
    # MMPretrain's CUB is still reachable and differs
    assert DATASETS.get('mmpretrain.CUB') is not CUB


def test_pipeline_loads_images(cub):
    init_default_scope('mmfg')
    ds = CUB(
        cub['root'], split='test', pipeline=[dict(type='LoadImageFromFile')])
    out = ds[0]
    assert out['img'].shape[:2] == (8, 8)
    assert out['gt_label'] == ds.get_data_info(0)['gt_label']


def test_user_class_names(cub):
    names = ['a', 'b', 'c', 'd']
    assert CUB(cub['root'], classes=names).metainfo['classes'] == tuple(names)
    with pytest.raises(ConfigError, match='class names'):
        CUB(cub['root'], classes=['a'])


# ---------------------------------------------------------------- bad input
def test_missing_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='data.caltech.edu') as e:
        CUB(str(tmp_path / 'nope'))
    assert e.value.path == str(tmp_path / 'nope')


@pytest.mark.parametrize('name', [
    'images.txt', 'image_class_labels.txt', 'train_test_split.txt',
    'bounding_boxes.txt', 'parts/part_locs.txt'
])
def test_missing_annotation_file(cub, name):
    path = osp.join(cub['root'], name)
    os.remove(path)
    with pytest.raises(DatasetNotFoundError, match='CUB_200_2011.tgz') as e:
        CUB(cub['root'])
    assert e.value.path == path


def test_missing_classes_file_fails_even_when_lazy(cub):
    os.remove(osp.join(cub['root'], 'classes.txt'))
    with pytest.raises(DatasetNotFoundError, match='classes.txt'):
        CUB(cub['root'], lazy_init=True)


def test_missing_file_with_lazy_init_fails_on_load(cub):
    os.remove(osp.join(cub['root'], 'images.txt'))
    ds = CUB(cub['root'], lazy_init=True)
    with pytest.raises(DatasetNotFoundError, match='images.txt'):
        len(ds)


@pytest.mark.parametrize('name,lineno,line,match', [
    ('images.txt', 3, '3', r'expected 2 whitespace-separated'),
    ('images.txt', 3, '3 a.jpg extra', 'got 3'),
    ('images.txt', 4, 'four 001.Bird_1/x.jpg', 'image_id.*integer'),
    ('images.txt', 5, '4 001.Bird_1/dup.jpg', 'duplicate image_id 4'),
    ('image_class_labels.txt', 2, '2 x', 'class_id.*integer'),
    ('image_class_labels.txt', 2, '2 9', 'class id 9'),
    ('train_test_split.txt', 6, '6 2', 'must be 0 or 1'),
    ('bounding_boxes.txt', 7, '7 1 2 3', 'expected 5'),
    ('bounding_boxes.txt', 7, '7 1 2 nan 4', 'finite number'),
    ('bounding_boxes.txt', 7, '7 1 2 -3 4', 'width/height'),
    ('bounding_boxes.txt', 7, '99 1 2 3 4', 'unknown image id 99'),
    ('classes.txt', 2, 'two 002.Bird_2', 'class_id.*integer'),
    ('parts/part_locs.txt', 10, '1 10 1.0 2.0 5', 'visible must be 0 or 1'),
    ('parts/part_locs.txt', 10, '1 99 1.0 2.0 1', 'unknown part id 99'),
    ('parts/part_locs.txt', 10, '77 10 1.0 2.0 1', 'unknown image id 77'),
    ('parts/part_locs.txt', 10, '1 9 1.0 2.0 1', 'duplicate row'),
])
def test_malformed_line(cub, name, lineno, line, match):
    path = osp.join(cub['root'], name)
    replace_line(path, lineno, line)
    with pytest.raises(AnnotationError, match=match) as e:
        CUB(cub['root'])
    assert e.value.path == path
    assert e.value.lineno == lineno
    assert f'line {lineno}' in str(e.value)


@pytest.mark.parametrize(
    'name',
    ['image_class_labels.txt', 'train_test_split.txt', 'bounding_boxes.txt'])
def test_image_missing_from_another_file(cub, name):
    path = osp.join(cub['root'], name)
    replace_line(path, 5, None)  # image 5 has no line any more
    with pytest.raises(AnnotationError, match="1 image id.*e.g. 5") as e:
        CUB(cub['root'])
    assert e.value.path == path
    assert 'images.txt" line 5' in str(e.value)


def test_missing_part_row(cub):
    replace_line(osp.join(cub['root'], 'parts', 'part_locs.txt'), 20, None)
    with pytest.raises(AnnotationError, match='image 2 part id 5'):
        CUB(cub['root'])


@pytest.mark.parametrize('line,match', [
    ('3 1 1', 'at least 4'),
    ('3 1 x 2 1.0', 'is_present.*integer'),
    ('3 1 1 7 1.0', 'certainty_id must be in 1..4'),
    ('3 1 2 1 1.0', 'is_present must be 0 or 1'),
    ('3 9 1 1 1.0', 'unknown attribute id 9'),
    ('300 1 1 1 1.0', 'unknown image id 300'),
    ('3 1 1 1 1.0', 'duplicate row for image 3, attribute 1'),
])
def test_malformed_attribute_line(cub, line, match):
    path = osp.join(cub['root'], 'attributes', 'image_attribute_labels.txt')
    append_line(path, line)
    with open(path) as f:
        lineno = len(f.read().splitlines())
    with pytest.raises(AnnotationError, match=match) as e:
        CUB(cub['root'], with_attributes=True)
    assert (e.value.path, e.value.lineno) == (path, lineno)


def test_missing_attribute_names(cub):
    os.remove(osp.join(osp.dirname(cub['root']), 'attributes.txt'))
    with pytest.raises(
            DatasetNotFoundError,
            match=r'also looked for.*\.\./'
            r'attributes.txt|attributes.txt') as e:
        CUB(cub['root'], with_attributes=True)
    assert e.value.path.endswith(osp.join('attributes', 'attributes.txt'))
    # not needed without attributes
    assert len(CUB(cub['root'])) == 12


def test_bad_class_attributes(cub):
    path = osp.join(cub['root'], 'attributes',
                    'class_attribute_labels_continuous.txt')
    replace_line(path, 3, '1 2 3')
    with pytest.raises(AnnotationError, match='expected 5 numbers') as e:
        CUB(cub['root'])
    assert e.value.lineno == 3
    replace_line(path, 3, None)
    replace_line(path, 3, None)
    with pytest.raises(AnnotationError, match='2 rows but.*4 classes'):
        CUB(cub['root'])


def test_missing_mask_and_text(cub):
    mask = osp.join(cub['root'], 'segmentations',
                    cub['paths'][5][:-4] + '.png')
    os.remove(mask)
    with pytest.raises(DatasetNotFoundError, match='segmentations.tgz') as e:
        CUB(cub['root'], with_mask=True)
    assert e.value.path == mask
    text = osp.join(cub['root'], 'text', cub['paths'][5][:-4] + '.txt')
    os.remove(text)
    with pytest.raises(DatasetNotFoundError, match='cvpr2016') as e:
        CUB(cub['root'], with_text=True)
    assert e.value.path == text
    with pytest.raises(DatasetNotFoundError, match='cvpr2016'):
        CUB(cub['root'], with_text=True, text_prefix='descriptions')


def test_bad_split_name(cub):
    with pytest.raises(ConfigError, match='split must be one of'):
        CUB(cub['root'], split='validation')


@pytest.mark.parametrize('kwargs, match', [
    (dict(with_bboxes=False), r'`with_bboxes` \(did you mean `with_bbox`\?\)'),
    (dict(num_classes=4), r'unknown argument\(s\) `num_classes`\.'),
    (dict(ann_file='labels.txt'), 'do not pass `ann_file`'),
])
def test_unknown_or_fixed_argument(cub, kwargs, match):
    init_default_scope('mmfg')
    with pytest.raises(ConfigError, match=match) as e:
        DATASETS.build(dict(type='CUB', data_root=cub['root'], **kwargs))
    assert str(e.value).startswith('CUB')
    if 'ann_file' not in kwargs:
        assert 'accepts: ' in str(e.value) and 'with_attributes' in str(
            e.value)


def test_empty_classes_file(cub):
    path = osp.join(cub['root'], 'classes.txt')
    with open(path, 'w'):
        pass
    with pytest.raises(AnnotationError) as e:
        CUB(cub['root'], lazy_init=True)
    assert str(e.value).startswith(f'{path}: lists no class')


def test_non_utf8_class_attributes(cub):
    path = osp.join(cub['root'], 'attributes',
                    'class_attribute_labels_continuous.txt')
    with open(path, 'ab') as f:
        f.write(b'\xff 1.0\n')
    with pytest.raises(AnnotationError) as e:
        CUB(cub['root'], lazy_init=True)
    assert str(e.value).startswith(f'{path}, line 5: is not UTF-8 text')


def test_empty_images_file(cub):
    path = osp.join(cub['root'], 'images.txt')
    with open(path, 'w') as f:
        f.write('\n')
    with pytest.raises(AnnotationError) as e:
        CUB(cub['root'])
    assert str(e.value).startswith(f'{path}: lists no image.')

import os
import os.path as osp

import numpy as np
import pytest
from fg_dataset_fixtures import replace_line, write_image, write_lines
from mmengine.registry import init_default_scope

from mmfg.datasets import FGVCAircraft
from mmfg.registry import DATASETS
from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)

# variant -> (family, manufacturer)
VARIANTS = {
    '707-320': ('Boeing 707', 'Boeing'),
    '727-200': ('Boeing 727', 'Boeing'),
    'A300B4': ('A300', 'Airbus'),
    'Cessna 172': ('Cessna 172', 'Cessna'),
}
FAMILIES = ['A300', 'Boeing 707', 'Boeing 727', 'Cessna 172']
MANUFACTURERS = ['Airbus', 'Boeing', 'Cessna']


def write_aircraft(root):
    """Two images per variant per split; ids have leading zeros."""
    data = osp.join(root, 'data')
    write_lines(osp.join(data, 'variants.txt'), list(VARIANTS))
    write_lines(osp.join(data, 'families.txt'), FAMILIES)
    write_lines(osp.join(data, 'manufacturers.txt'), MANUFACTURERS)
    info = dict(split={}, variant={}, box={})
    boxes = []
    n = 0
    for split in ('train', 'val', 'test'):
        ids, rows = [], dict(variant=[], family=[], manufacturer=[])
        for variant, (family, manufacturer) in VARIANTS.items():
            for _ in range(2):
                n += 1
                image_id = f'{n * 1000 + 7:07d}'
                ids.append(image_id)
                rows['variant'].append(f'{image_id} {variant}')
                rows['family'].append(f'{image_id} {family}')
                rows['manufacturer'].append(f'{image_id} {manufacturer}')
                box = [n, n + 1, n + 50, n + 40]
                boxes.append(f'{image_id} ' + ' '.join(map(str, box)))
                info['split'][image_id] = split
                info['variant'][image_id] = variant
                info['box'][image_id] = box
                write_image(osp.join(data, 'images', image_id + '.jpg'), n)
        write_lines(osp.join(data, f'images_{split}.txt'), ids)
        for level, lines in rows.items():
            write_lines(osp.join(data, f'images_{level}_{split}.txt'), lines)
    write_lines(osp.join(data, 'images_box.txt'), boxes)
    return info


@pytest.fixture
def air(tmp_path):
    root = str(tmp_path / 'fgvc-aircraft-2013b')
    info = write_aircraft(root)
    info['root'] = root
    return info


def test_official_splits(air):
    root = air['root']
    counts = {
        s: len(FGVCAircraft(root, split=s))
        for s in ('train', 'val', 'trainval', 'test', 'all')
    }
    assert counts == dict(train=8, val=8, trainval=16, test=8, all=24)
    assert FGVCAircraft(root).split == 'trainval'  # MMPretrain's default
    val = FGVCAircraft(root, split='val')
    for i in range(len(val)):
        info = val.get_data_info(i)
        image_id = osp.basename(info['img_path'])[:-4]
        assert air['split'][image_id] == 'val'
        assert info['img_id'] == int(image_id)
        assert image_id.startswith('00')  # leading zeros kept in the path
        assert osp.exists(info['img_path'])
        assert info['gt_label'] == list(VARIANTS).index(
            air['variant'][image_id])
        np.testing.assert_allclose(info['gt_bboxes'], [air['box'][image_id]])


@pytest.mark.parametrize('level,names', [
    ('variant', list(VARIANTS)),
    ('family', FAMILIES),
    ('manufacturer', MANUFACTURERS),
])
def test_levels(air, level, names):
    ds = FGVCAircraft(air['root'], split='test', level=level)
    assert ds.metainfo['classes'] == tuple(names)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        variant = air['variant'][osp.basename(info['img_path'])[:-4]]
        family, manufacturer = VARIANTS[variant]
        expected = dict(
            variant=variant, family=family, manufacturer=manufacturer)[level]
        assert names[info['gt_label']] == expected


def test_registry_lazy_class_split(air):
    init_default_scope('mmfg')
    ds = DATASETS.build(
        dict(
            type='FGVCAircraft',
            data_root=air['root'],
            class_split='first',
            lazy_init=True,
            with_bbox=False))
    assert ds.split == 'all'
    assert ds.metainfo['classes'] == ('707-320', '727-200')
    assert not ds._fully_initialized
    assert len(ds) == 12
    assert 'gt_bboxes' not in ds.get_data_info(0)


# ---------------------------------------------------------------- bad input
def test_bad_config(air):
    with pytest.raises(ConfigError, match='level'):
        FGVCAircraft(air['root'], level='model')
    with pytest.raises(DatasetNotFoundError, match='robots.ox.ac.uk'):
        FGVCAircraft(air['root'] + '_missing')


def test_missing_files(air):
    os.remove(osp.join(air['root'], 'data', 'images_family_test.txt'))
    FGVCAircraft(air['root'], split='test')  # variant level does not need it
    with pytest.raises(DatasetNotFoundError, match='images_family_test.txt'):
        FGVCAircraft(air['root'], split='test', level='family')
    os.remove(osp.join(air['root'], 'data', 'images_box.txt'))
    with pytest.raises(DatasetNotFoundError, match='images_box.txt'):
        FGVCAircraft(air['root'])


@pytest.mark.parametrize('name,lineno,line,match', [
    ('images_variant_train.txt', 3, '0003007 747-400', 'not listed'),
    ('images_variant_train.txt', 3, '0003007', 'expected 2'),
    ('images_variant_train.txt', 3, '0099007 A300B4', 'unknown image id'),
    ('images_variant_train.txt', 3, '0002007 A300B4', 'duplicate image_id'),
    ('images_box.txt', 2, '0002007 1 2 3', 'expected 5'),
    ('images_box.txt', 2, '0002007 10 2 3 40', 'xmax/ymax'),
    ('images_box.txt', 2, '0001007 1 2 3 4', 'duplicate image id 0001007'),
    ('images_train.txt', 2, '0001007', 'duplicate image_id'),
])
def test_malformed_lines(air, name, lineno, line, match):
    path = osp.join(air['root'], 'data', name)
    replace_line(path, lineno, line)
    with pytest.raises(AnnotationError, match=match) as e:
        FGVCAircraft(air['root'], split='train')
    assert (e.value.path, e.value.lineno) == (path, lineno)


def test_image_in_two_splits(air):
    path = osp.join(air['root'], 'data', 'images_variant_val.txt')
    replace_line(path, 1, '0001007 707-320')
    replace_line(osp.join(air['root'], 'data', 'images_val.txt'), 1, '0001007')
    with pytest.raises(AnnotationError, match='also in the train split') as e:
        FGVCAircraft(air['root'])
    assert (e.value.path, e.value.lineno) == (path, 1)


def test_image_without_label_or_box(air):
    path = osp.join(air['root'], 'data', 'images_variant_test.txt')
    replace_line(path, 4, None)
    with pytest.raises(AnnotationError, match='have no line here') as e:
        FGVCAircraft(air['root'], split='test')
    assert e.value.path == path
    path = osp.join(air['root'], 'data', 'images_box.txt')
    replace_line(path, 1, None)
    with pytest.raises(AnnotationError, match='0001007 has no box'):
        FGVCAircraft(air['root'], split='train')


@pytest.mark.parametrize('key', ['val_ratio', 'val_seed'])
def test_val_holdout_arguments_are_refused(air, key):
    with pytest.raises(ConfigError) as e:
        FGVCAircraft(air['root'], **{key: 0.2})
    assert str(e.value) == (
        f'FGVCAircraft: do not pass `{key}`: FGVC-Aircraft has an official '
        'validation set (data/images_val.txt), so nothing is held out. '
        f'Remove `{key}` from the dataset config.')


def test_unknown_argument_and_empty_names_file(air):
    with pytest.raises(ConfigError, match=r'`levels` \(did you mean `level`'):
        FGVCAircraft(air['root'], levels='family')
    path = osp.join(air['root'], 'data', 'families.txt')
    write_lines(path, [])
    with pytest.raises(AnnotationError) as e:
        FGVCAircraft(air['root'], level='family')
    assert str(e.value).startswith(f'{path}: lists no class name.')


def test_empty_split_file(air):
    path = osp.join(air['root'], 'data', 'images_val.txt')
    write_lines(path, [])
    write_lines(osp.join(air['root'], 'data', 'images_variant_val.txt'), [])
    assert len(FGVCAircraft(air['root'], split='train')) == 8
    with pytest.raises(AnnotationError) as e:
        FGVCAircraft(air['root'], split='val')
    assert str(e.value) == (f'{path}: lists no image. Restore it from the '
                            'original download.')

import os
import os.path as osp

import numpy as np
import pytest
import scipy.io
from fg_dataset_fixtures import write_image, write_lines
from mmengine.registry import init_default_scope

from mmfg.datasets import StanfordDogs
from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError

FOLDERS = [
    'n02085620-Chihuahua', 'n02085782-Japanese_spaniel', 'n02086910-papillon'
]


def _xml(boxes):
    objects = ''.join(
        f'<object><name>dog</name><bndbox><xmin>{b[0]}</xmin>'
        f'<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>'
        '</bndbox></object>' for b in boxes)
    return ('<annotation><size><width>8</width><height>8</height>'
            f'<depth>3</depth></size>{objects}</annotation>')


def _cell(strings):
    cell = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        cell[i, 0] = np.array([s])
    return cell


def write_dogs(root, per_class=5, num_train=3, text_lists=False):
    """Official layout; image k of a class has k + 1 boxes when k == 1."""
    info = dict(boxes={}, lists=dict(train=[], test=[]))
    for c, folder in enumerate(FOLDERS):
        wnid = folder.split('-')[0]
        for k in range(per_class):
            stem = f'{folder}/{wnid}_{k}'
            write_image(osp.join(root, 'Images', stem + '.jpg'), k)
            boxes = [[k, k + 1, k + 5, k + 6]]
            if k == 1:
                boxes.append([0, 0, 3, 4])
            write_lines(osp.join(root, 'Annotation', stem), [_xml(boxes)])
            info['boxes'][stem + '.jpg'] = boxes
            part = 'train' if k < num_train else 'test'
            info['lists'][part].append((stem + '.jpg', stem, c + 1))
    for part, entries in info['lists'].items():
        if text_lists:
            write_lines(
                osp.join(root, 'lists', f'{part}_list.txt'),
                [f'{f} {label}' for f, _, label in entries])
        else:
            os.makedirs(osp.join(root, 'lists'), exist_ok=True)
            scipy.io.savemat(
                osp.join(root, 'lists', f'{part}_list.mat'),
                dict(
                    file_list=_cell([f for f, _, _ in entries]),
                    annotation_list=_cell([a for _, a, _ in entries]),
                    labels=np.array([[lab] for _, _, lab in entries],
                                    dtype=np.float64)))
    return info


@pytest.fixture
def dogs(tmp_path):
    root = str(tmp_path / 'dogs')
    info = write_dogs(root)
    info['root'] = root
    return info


@pytest.mark.parametrize('text_lists', [False, True])
def test_load_splits_labels_boxes(tmp_path, text_lists):
    root = str(tmp_path / 'dogs')
    info = write_dogs(root, text_lists=text_lists)
    ds = StanfordDogs(root, split='all')
    assert ds.metainfo['classes'] == ('Chihuahua', 'Japanese_spaniel',
                                      'papillon')
    assert ds.metainfo['wnids'] == ('n02085620', 'n02085782', 'n02086910')
    assert len(ds) == 15
    for i in range(len(ds)):
        sample = ds.get_data_info(i)
        rel = osp.relpath(sample['img_path'], osp.join(root, 'Images'))
        assert osp.exists(sample['img_path'])
        assert sample['gt_label'] == FOLDERS.index(rel.split('/')[0])
        assert sample['gt_bboxes'].dtype == np.float32
        np.testing.assert_allclose(sample['gt_bboxes'], info['boxes'][rel])
    # image 1 of each class has two boxes (every <object> is read)
    assert sorted(len(ds.get_data_info(i)['gt_bboxes'])
                  for i in range(15)).count(2) == 3
    counts = {
        s: len(StanfordDogs(root, split=s, val_ratio=0.34))
        for s in ('train', 'val', 'trainval', 'test')
    }
    assert counts == dict(train=6, val=3, trainval=9, test=6)


def test_xml_extension_and_no_boxes(dogs):
    stem = osp.join(dogs['root'], 'Annotation', FOLDERS[0], 'n02085620_0')
    os.rename(stem, stem + '.xml')
    ds = StanfordDogs(dogs['root'], split='train', val_ratio=0)
    np.testing.assert_allclose(
        ds.get_data_info(0)['gt_bboxes'], [[0, 1, 5, 6]])
    info = StanfordDogs(dogs['root'], with_bbox=False).get_data_info(0)
    assert 'gt_bboxes' not in info


def test_class_split_lazy_and_registry(dogs):
    init_default_scope('mmfg')
    ds = DATASETS.build(
        dict(
            type='StanfordDogs',
            data_root=dogs['root'],
            class_split='second',
            lazy_init=True))
    assert ds.metainfo['classes'] == ('Japanese_spaniel', 'papillon')
    assert not ds._fully_initialized
    assert len(ds) == 10
    assert sorted(set(ds.get_gt_labels())) == [0, 1]


# ---------------------------------------------------------------- bad input
def test_missing_root_and_lists(dogs, tmp_path):
    with pytest.raises(DatasetNotFoundError, match='ImageNetDogs'):
        StanfordDogs(str(tmp_path / 'none'))
    os.remove(osp.join(dogs['root'], 'lists', 'test_list.mat'))
    assert len(StanfordDogs(dogs['root'], split='trainval')) == 9
    with pytest.raises(DatasetNotFoundError, match='test_list.mat') as e:
        StanfordDogs(dogs['root'], split='test')
    assert e.value.path.endswith(osp.join('lists', 'test_list.mat'))


def test_malformed_xml_names_the_file(dogs):
    path = osp.join(dogs['root'], 'Annotation', FOLDERS[1], 'n02085782_2')
    write_lines(path, ['<annotation><object><bndbox>', '<xmin>1</xmin>'])
    with pytest.raises(AnnotationError, match='malformed XML') as e:
        StanfordDogs(dogs['root'], split='train')
    assert e.value.path == path


@pytest.mark.parametrize('boxes_xml,match', [
    (_xml([['a', 1, 2, 3]]), '<xmin> must be a number'),
    (_xml([[5, 1, 2, 3]]), 'max < min'),
    (_xml([]), 'no <object><bndbox>'),
])
def test_bad_boxes(dogs, boxes_xml, match):
    path = osp.join(dogs['root'], 'Annotation', FOLDERS[2], 'n02086910_0')
    write_lines(path, [boxes_xml])
    with pytest.raises(AnnotationError, match=match) as e:
        StanfordDogs(dogs['root'])
    assert e.value.path == path


def test_missing_annotation_file(dogs):
    path = osp.join(dogs['root'], 'Annotation', FOLDERS[0], 'n02085620_1')
    os.remove(path)
    with pytest.raises(DatasetNotFoundError, match='with_bbox=False') as e:
        StanfordDogs(dogs['root'])
    assert e.value.path == path


def test_label_disagrees_with_folder(tmp_path):
    root = str(tmp_path / 'dogs')
    write_dogs(root, text_lists=True)
    path = osp.join(root, 'lists', 'train_list.txt')
    with open(path) as f:
        lines = f.read().splitlines()
    lines[4] = lines[4].rsplit(' ', 1)[0] + ' 3'  # a Japanese_spaniel
    write_lines(path, lines)
    with pytest.raises(AnnotationError, match='does not match') as e:
        StanfordDogs(root)
    assert (e.value.path, e.value.lineno) == (path, 5)


@pytest.mark.parametrize('line,match', [
    ('n02085620-Chihuahua/x.jpg 1 2', 'got 3 fields'),
    ('n02085620-Chihuahua/x.jpg one', 'label must be an integer'),
    ('x.jpg', r'not "<wnid>-<breed>/<file>.jpg"'),
])
def test_malformed_text_list(tmp_path, line, match):
    root = str(tmp_path / 'dogs')
    write_dogs(root, text_lists=True)
    path = osp.join(root, 'lists', 'train_list.txt')
    with open(path, 'a') as f:
        f.write(line + '\n')
    with pytest.raises(AnnotationError, match=match) as e:
        StanfordDogs(root)
    assert (e.value.path, e.value.lineno) == (path, 10)


def test_duplicate_entry(tmp_path):
    root = str(tmp_path / 'dogs')
    write_dogs(root, text_lists=True)
    path = osp.join(root, 'lists', 'test_list.txt')
    with open(path, 'a') as f:
        f.write('n02085620-Chihuahua/n02085620_0.jpg 1\n')  # a train image
    with pytest.raises(AnnotationError, match='listed twice') as e:
        StanfordDogs(root, split='all')
    assert e.value.lineno == 7 and 'train_list.txt' in str(e.value)


def test_corrupt_mat_list(dogs):
    path = osp.join(dogs['root'], 'lists', 'train_list.mat')
    with open(path, 'wb') as f:
        f.write(b'not a mat file at all')
    with pytest.raises(AnnotationError, match='MATLAB') as e:
        StanfordDogs(dogs['root'])
    assert e.value.path == path


@pytest.mark.parametrize('text_lists', [False, True])
def test_empty_list_file(tmp_path, text_lists):
    root = str(tmp_path / 'dogs')
    write_dogs(root, text_lists=text_lists)
    if text_lists:
        path = osp.join(root, 'lists', 'test_list.txt')
        write_lines(path, [''])
    else:
        path = osp.join(root, 'lists', 'test_list.mat')
        scipy.io.savemat(
            path,
            dict(
                file_list=np.empty((0, 1), dtype=object),
                annotation_list=np.empty((0, 1), dtype=object),
                labels=np.empty((0, 1))))
    with pytest.raises(AnnotationError) as e:
        StanfordDogs(root, split='train')  # the test list names classes too
    assert str(e.value).startswith(f'{path}: lists no image.')


def test_non_utf8_text_list(tmp_path):
    root = str(tmp_path / 'dogs')
    write_dogs(root, text_lists=True)
    path = osp.join(root, 'lists', 'train_list.txt')
    with open(path, 'ab') as f:
        f.write(b'n02085620-Chihuahua/\xe9.jpg 1\n')
    with pytest.raises(AnnotationError) as e:
        StanfordDogs(root)
    assert (e.value.path, e.value.lineno) == (path, 10)
    assert 'is not UTF-8 text' in str(e.value)

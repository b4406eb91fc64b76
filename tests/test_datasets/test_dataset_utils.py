import os.path as osp

import numpy as np
import pytest
from fg_dataset_fixtures import write_cub, write_lines

from mmfg.datasets import CUB
from mmfg.datasets.utils import (check_dataset_kwargs, check_same_keys,
                                 find_path, part_flip_pairs, read_keyed,
                                 read_nonempty_lines, read_rows,
                                 read_voc_boxes, stratified_holdout)
from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)


def test_part_flip_pairs():
    names = [
        'bill', 'Left Eye', 'right eye', 'left wing', 'tail', 'right wing',
        'left leg'
    ]  # left leg has no partner
    assert part_flip_pairs(names) == [(1, 2), (3, 5)]
    assert part_flip_pairs(['leftover', 'rightmost']) == []


def test_stratified_holdout():
    labels = np.repeat([0, 1, 2, 3], [10, 3, 1, 2])
    held = stratified_holdout(labels, 0.2, seed=0)
    counts = [int(held[labels == c].sum()) for c in range(4)]
    # round(0.2 * n) clipped to [1, n - 1]; a single sample stays
    assert counts == [2, 1, 0, 1]
    np.testing.assert_array_equal(held, stratified_holdout(labels, 0.2, 0))
    assert not stratified_holdout(labels, 0.0, 0).any()
    others = [stratified_holdout(labels, 0.2, s) for s in range(1, 6)]
    assert any((o != held).any() for o in others)


def test_read_rows_fields(tmp_path):
    path = str(tmp_path / 't.txt')
    write_lines(path, ['1 left eye', '', '2  right   eye', '3 tail'])
    rows = read_rows(
        path, [('id', int), ('name', str)], dataset='x', rest=True)
    assert rows == [(1, (1, 'left eye')), (3, (2, 'right eye')),
                    (4, (3, 'tail'))]
    write_lines(path, ['1 2.5 9 9', '2'])
    with pytest.raises(AnnotationError, match='at least 2') as e:
        read_rows(
            path, [('id', int), ('v', float)], dataset='x', extra='ignore')
    assert e.value.lineno == 2
    write_lines(path, ['1 2.5', '2 inf'])
    with pytest.raises(AnnotationError, match='"v" must be a finite number'):
        read_rows(path, [('id', int), ('v', float)], dataset='x')


def test_read_keyed_and_check_same_keys(tmp_path):
    a, b = str(tmp_path / 'a.txt'), str(tmp_path / 'b.txt')
    write_lines(a, ['1 x', '2 y', '3 z'])
    write_lines(b, ['3 1', '1 0'])
    ref = read_keyed(a, [('id', int), ('name', str)], dataset='x')
    other = read_keyed(b, [('id', int), ('flag', int)], dataset='x')
    assert ref[2] == (2, ('y', ))
    with pytest.raises(AnnotationError, match=r"e.g. 2 \(.*a.txt\" line 2"):
        check_same_keys(ref, a, other, b)
    check_same_keys(ref, a, other, b, allow_missing=True)
    write_lines(b, ['3 1', '4 0'])
    other = read_keyed(b, [('id', int), ('flag', int)], dataset='x')
    with pytest.raises(AnnotationError, match='unknown image id 4') as e:
        check_same_keys(ref, a, other, b, allow_missing=True)
    assert (e.value.path, e.value.lineno) == (b, 2)
    with open(b, 'wb') as f:
        f.write(b'1 \xff\n')
    with pytest.raises(AnnotationError, match='UTF-8'):
        read_keyed(b, [('id', int), ('flag', str)], dataset='x')


def test_find_path(tmp_path):
    write_lines(str(tmp_path / 'b.txt'), ['x'])
    assert find_path([str(tmp_path / 'a.txt'),
                      str(tmp_path / 'b.txt')], 'x') == str(tmp_path / 'b.txt')
    with pytest.raises(DatasetNotFoundError, match='also looked for') as e:
        find_path([str(tmp_path / 'c.txt'),
                   str(tmp_path / 'd.txt')], 'X', 'get it')
    assert e.value.path == str(tmp_path / 'c.txt')
    assert 'get it' in str(e.value)


def test_read_voc_boxes(tmp_path):
    path = str(tmp_path / 'a.xml')
    write_lines(path, [
        '<annotation><object><bndbox><xmin>1</xmin><ymin>2</ymin>'
        '<xmax>3.5</xmax><ymax>4</ymax></bndbox></object><object><bndbox>'
        '<xmin>0</xmin><ymin>0</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>'
        '</object></annotation>'
    ])
    boxes = read_voc_boxes(path)
    assert boxes.dtype == np.float32
    np.testing.assert_array_equal(boxes, [[1, 2, 3.5, 4], [0, 0, 9, 9]])
    write_lines(path, [
        '<annotation><object><bndbox><xmin>1</xmin>'
        '<ymin>2</ymin><xmax>3</xmax></bndbox></object>'
        '</annotation>'
    ])
    with pytest.raises(AnnotationError, match='<ymax> must be a number'):
        read_voc_boxes(path)


def test_serialized_subset_and_empty_selection(tmp_path):
    root = str(tmp_path / 'CUB')
    write_cub(root, images=False, masks=False, text=False)
    ds = CUB(root, split='all')
    plain = CUB(root, split='all', serialize_data=False)
    for i in range(len(ds)):
        a, b = ds.get_data_info(i), plain.get_data_info(i)
        assert a.keys() == b.keys()
        np.testing.assert_array_equal(a['gt_parts'], b['gt_parts'])
    sub = ds.get_subset([3, 5])
    assert [sub.get_data_info(i)['img_id'] for i in range(2)] == [4, 6]
    # no official test image -> an empty, warned-about test split
    write_lines(
        osp.join(root, 'train_test_split.txt'),
        [f'{i} 1' for i in range(1, 25)])
    with pytest.warns(UserWarning, match='selects no image'):
        empty = CUB(root, split='test')
    assert len(empty) == 0


def test_line_endings_and_byte_order_mark(tmp_path):
    path = tmp_path / 't.txt'
    path.write_bytes(b'\xef\xbb\xbf1 a\r\n2 b\x0cc\r3 c\n\n5 e')
    assert read_rows(str(path), [('id', int), ('name', str)],
                     dataset='x', rest=True) == [
                         (1, (1, 'a')), (2, (2, 'b c')), (3, (3, 'c')),
                         (5, (5, 'e'))
                     ]
    assert read_nonempty_lines(str(path), dataset='x') == [
        (1, '1 a'), (2, '2 b\x0cc'), (3, '3 c'), (5, '5 e')
    ]


@pytest.mark.parametrize('reader', ['rows', 'nonempty'])
@pytest.mark.parametrize('bom', [b'', b'\xef\xbb\xbf'])
def test_non_utf8_file_names_file_and_line(tmp_path, reader, bom):
    path = tmp_path / 't.txt'
    path.write_bytes(bom + b'1 a\n\n3 \xff\xfeb\n4 c\n')
    with pytest.raises(AnnotationError) as e:
        if reader == 'rows':
            read_rows(str(path), [('id', int), ('name', str)], dataset='x')
        else:
            read_nonempty_lines(str(path), dataset='x')
    assert str(e.value).startswith(f'{path}, line 3: is not UTF-8 text')
    assert 'Re-extract' in str(e.value)
    assert e.value.lineno == 3


class _Base:

    def __init__(self, ann_file, pipeline=(), lazy_init=False):
        pass


class _Open:

    def __init__(self, data_root, **kwargs):
        pass


class _Child(_Base):
    FIXED_KWARGS = dict(lazy_init='it is fixed.')

    def __init__(self, data_root, with_bbox=True, **kwargs):
        pass


def test_check_dataset_kwargs():
    child = _Child.__new__(_Child)
    check_dataset_kwargs(child, dict(pipeline=[], ann_file='a'),
                         _Base.__init__)
    with pytest.raises(ConfigError) as e:
        check_dataset_kwargs(child, dict(with_bboxes=1, pipeline=[], zzz=2),
                             _Base.__init__)
    # the fixed lazy_init is not offered
    assert str(e.value) == (
        '_Child got unknown argument(s) `with_bboxes` (did you mean '
        '`with_bbox`?), `zzz`. Fix or remove them in the dataset config; '
        '_Child accepts: ann_file, data_root, pipeline, with_bbox.')
    # a base that takes **kwargs checks its own keys later
    check_dataset_kwargs(child, dict(anything=1), _Open.__init__)
    for init in (_Open.__init__, _Base.__init__):
        with pytest.raises(ConfigError) as e:
            check_dataset_kwargs(child, dict(lazy_init=True), init)
        assert str(e.value) == (
            '_Child: do not pass `lazy_init`: it is fixed. Remove '
            '`lazy_init` from the dataset config.')

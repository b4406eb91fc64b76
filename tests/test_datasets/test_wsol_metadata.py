"""wsolevaluation metadata layout (ILSVRC / CUB), on tiny files."""
import numpy as np
import pytest

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError, ConfigError


def _write(root, split, labels, boxes=None):
    d = root / 'metadata' / 'ILSVRC' / split
    d.mkdir(parents=True)
    (d / 'class_labels.txt').write_text(labels)
    if boxes is not None:
        (d / 'localization.txt').write_text(boxes)
    return str(root / 'metadata' / 'ILSVRC')


def test_labels_and_multi_boxes(tmp_path):
    meta = _write(
        tmp_path, 'test', 'val/a.JPEG,3\nval/b.JPEG,0\n',
        'val/a.JPEG,1,2,30,40\nval/b.JPEG,0,0,9,9\nval/a.JPEG,5,5,6,7\n')
    ds = DATASETS.build(
        dict(
            type='WSOLMetadataDataset',
            data_root=str(tmp_path / 'imgs'),
            metadata_root=meta,
            split='test'))
    assert len(ds) == 2 and len(ds.metainfo['classes']) == 4
    a = ds.get_data_info(0)
    assert a['img_path'] == str(tmp_path / 'imgs' / 'val' / 'a.JPEG')
    assert a['gt_label'] == 3
    assert np.array_equal(a['gt_bboxes'], [[1, 2, 30, 40], [5, 5, 6, 7]])
    assert ds.get_data_info(1)['gt_bboxes'].shape == (1, 4)


def test_errors(tmp_path):
    meta = _write(tmp_path, 'val', 'x.JPEG,one\n')
    with pytest.raises(AnnotationError, match='class_labels.txt, line 1'):
        DATASETS.build(
            dict(type='WSOLMetadataDataset', data_root='.',
                 metadata_root=meta, split='val'))
    meta = _write(tmp_path / 'b', 'val', 'x.JPEG,0\n', 'y.JPEG,0,0,1,1\n')
    with pytest.raises(AnnotationError, match='not in'):
        DATASETS.build(
            dict(type='WSOLMetadataDataset', data_root='.',
                 metadata_root=meta, split='val'))
    meta = _write(tmp_path / 'c', 'val', 'x.JPEG,0\n', 'x.JPEG,5,0,1,1\n')
    with pytest.raises(AnnotationError, match='x1 < x0'):
        DATASETS.build(
            dict(type='WSOLMetadataDataset', data_root='.',
                 metadata_root=meta, split='val'))
    with pytest.raises(ConfigError, match='split'):
        DATASETS.build(
            dict(type='WSOLMetadataDataset', data_root='.',
                 metadata_root=meta, split='dev'))
    with pytest.raises(FileNotFoundError, match='wsolevaluation'):
        DATASETS.build(
            dict(type='WSOLMetadataDataset', data_root='.',
                 metadata_root=meta, split='train'))


def _build(meta, split='val', **kwargs):
    return DATASETS.build(
        dict(
            type='WSOLMetadataDataset',
            data_root='.',
            metadata_root=meta,
            split=split,
            **kwargs))


def test_duplicate_empty_and_boxless(tmp_path):
    meta = _write(tmp_path / 'a', 'val', 'a.JPEG,1\nb.JPEG,0\na.JPEG,2\n',
                  'a.JPEG,0,0,1,1\nb.JPEG,0,0,1,1\n')
    with pytest.raises(AnnotationError) as e:
        _build(meta)
    path = f'{meta}/val/class_labels.txt'
    assert str(e.value) == (f'{path}, line 3: image "a.JPEG" is listed '
                            'twice (first on line 1); remove one of the '
                            'lines.')
    meta = _write(tmp_path / 'b', 'val', '\n', '')
    with pytest.raises(AnnotationError, match='lists no image') as e:
        _build(meta)
    assert e.value.path == f'{meta}/val/class_labels.txt'
    meta = _write(tmp_path / 'c', 'test', 'a.JPEG,1\nb.JPEG,0\n',
                  'a.JPEG,0,0,1,1\n')
    with pytest.raises(AnnotationError) as e:
        _build(meta, 'test')
    assert str(e.value).startswith(
        f'{meta}/test/localization.txt: image "b.JPEG" (class_labels.txt '
        'line 2) has no box.')
    assert len(_build(meta, 'test', with_bbox=False)) == 2
    # train images may lack boxes (ILSVRC train has boxes for a subset)
    meta = _write(tmp_path / 'd', 'train', 'a.JPEG,1\nb.JPEG,0\n',
                  'a.JPEG,0,0,1,1\n')
    ds = _build(meta, 'train', with_bbox=True)
    assert ['gt_bboxes' in ds.get_data_info(i) for i in range(2)] == [
        True, False
    ]


def test_unknown_and_fixed_arguments(tmp_path):
    meta = _write(tmp_path, 'val', 'a.JPEG,1\n', 'a.JPEG,0,0,1,1\n')
    with pytest.raises(ConfigError, match=r'did you mean `with_bbox`'):
        _build(meta, with_bboxes=True)
    with pytest.raises(ConfigError, match='do not pass `metainfo`'):
        _build(meta, metainfo=dict(classes=['x', 'y']))

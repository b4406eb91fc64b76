"""PASCAL VOC 2012 with image-level labels, on a tiny dataset written in
the official layout."""
import os
import os.path as osp

import numpy as np
import pytest
from voc_fixture import write_voc, write_xml

from mmfg.datasets.voc import VOC_CLASSES, PascalVOC2012, read_label_png
from mmfg.registry import DATASETS
from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)


@pytest.fixture
def voc_root(tmp_path):
    root = str(tmp_path / 'VOC2012')
    return root, write_voc(root)


def test_labels_masks_and_registry(voc_root):
    root, masks = voc_root
    ds = DATASETS.build(dict(type='PascalVOC2012', data_root=root))
    assert len(ds) == 3 and ds.metainfo['classes'] == VOC_CLASSES
    assert ds.ids == list(masks)
    infos = [ds.get_data_info(i) for i in range(3)]
    assert [i['gt_label'] for i in infos] == [[2], [7, 11], [14]]
    assert infos[0]['img_path'].endswith('JPEGImages/2007_000001.jpg')
    # palette PNGs decode to indices, not luminance
    for info in infos:
        assert np.array_equal(
            read_label_png(info['seg_map_path']), masks[info['img_id']])
    by_mask = PascalVOC2012(root, label_source='mask')
    assert [by_mask.get_data_info(i)['gt_label']
            for i in range(3)] == [[2], [7, 11], [14]]
    assert ds.get_cat_ids(1) == [7, 11]


def test_errors_name_the_file(voc_root, tmp_path):
    root, _ = voc_root
    with pytest.raises(DatasetNotFoundError, match='nowhere'):
        PascalVOC2012(str(tmp_path / 'nowhere'))
    with pytest.raises(DatasetNotFoundError, match='train_aug.txt'):
        PascalVOC2012(root, split='train_aug')
    os.remove(osp.join(root, 'SegmentationClass', '2007_000002.png'))
    assert 'seg_map_path' not in PascalVOC2012(root).get_data_info(1)
    with pytest.raises(DatasetNotFoundError, match='line 2'):
        PascalVOC2012(root, require_mask=True)
    xml = osp.join(root, 'Annotations', '2008_000003.xml')
    write_xml(xml, ['zebra'])
    with pytest.raises(AnnotationError, match='zebra'):
        PascalVOC2012(root)
    write_xml(xml, [])
    with pytest.raises(AnnotationError, match='line 3.*no object'):
        PascalVOC2012(root)
    with open(xml, 'w') as f:
        f.write('<annotation><object>')
    with pytest.raises(AnnotationError, match='malformed XML'):
        PascalVOC2012(root)


def test_duplicate_and_empty_split_file(voc_root):
    root, _ = voc_root
    split = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    with open(split, 'a') as f:
        f.write('2007_000002\n')
    with pytest.raises(AnnotationError) as e:
        PascalVOC2012(root)
    assert str(e.value) == (f'{split}, line 4: duplicate image id '
                            '"2007_000002" (first on line 2); remove one of '
                            'the lines.')
    with open(split, 'w') as f:
        f.write('\n')
    with pytest.raises(AnnotationError, match='lists no image id') as e:
        PascalVOC2012(root)
    assert e.value.path == split


def test_unknown_and_fixed_arguments(voc_root):
    root, _ = voc_root
    with pytest.raises(ConfigError, match=r'did you mean `label_source`'):
        PascalVOC2012(root, label_sources='mask')
    with pytest.raises(ConfigError, match='do not pass `ann_file`'):
        PascalVOC2012(root, ann_file='x.txt')

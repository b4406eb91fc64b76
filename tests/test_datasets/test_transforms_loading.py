"""LoadImageFromFile (corrupt files) and LoadMask."""
import logging

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from mmfg.datasets.transforms import (LoadImageFromFile, LoadMask, RandomFlip,
                                      Resize)
from mmfg.registry import TRANSFORMS
from mmfg.utils.errors import AnnotationError, CorruptImageError


def _write_jpg(path, h=40, w=60, seed=0):
    img = np.random.RandomState(seed).randint(0, 256, (h, w, 3), np.uint8)
    ok, buf = cv2.imencode('.jpg', img)
    assert ok
    data = buf.tobytes()
    with open(path, 'wb') as f:
        f.write(data)
    return data


@pytest.fixture
def corrupt_files(tmp_path):
    data = _write_jpg(tmp_path / 'good.jpg')
    files = {}
    files['truncated'] = tmp_path / 'truncated.jpg'
    files['truncated'].write_bytes(data[:len(data) // 2])
    files['garbage'] = tmp_path / 'garbage.jpg'
    files['garbage'].write_bytes(np.random.RandomState(1).bytes(2000))
    files['empty'] = tmp_path / 'empty.jpg'
    files['empty'].write_bytes(b'')
    files['missing'] = tmp_path / 'missing.jpg'
    return tmp_path / 'good.jpg', {k: str(v) for k, v in files.items()}


@pytest.fixture
def captured_warnings():
    logger = MMLogger.get_instance('mmfg_test_transforms_loading')
    records = []

    class _Handler(logging.Handler):

        def emit(self, record):
            records.append(record)

    handler = _Handler(level=logging.WARNING)
    current = MMLogger.get_current_instance()
    assert current is logger
    current.addHandler(handler)
    yield records
    current.removeHandler(handler)


@pytest.mark.parametrize('kind', ['truncated', 'garbage', 'empty', 'missing'])
def test_corrupt_image_raises_naming_the_path(corrupt_files, kind):
    _, files = corrupt_files
    with pytest.raises(CorruptImageError) as info:
        LoadImageFromFile()(dict(img_path=files[kind]))
    assert info.value.path == files[kind]
    assert files[kind] in str(info.value)
    assert 'skip_corrupt' in str(info.value)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_corrupt_image_raises_with_every_backend(corrupt_files, backend):
    _, files = corrupt_files
    for kind in ('truncated', 'garbage'):
        with pytest.raises(CorruptImageError, match=kind):
            LoadImageFromFile(imdecode_backend=backend)(
                dict(img_path=files[kind]))


def test_skip_corrupt_counts_logs_and_returns_none(corrupt_files,
                                                   captured_warnings):
    good, files = corrupt_files
    LoadImageFromFile.reset_skip_count()
    loader = LoadImageFromFile(skip_corrupt=True)
    assert loader(dict(img_path=str(good)))['img'].shape == (40, 60, 3)
    assert LoadImageFromFile.num_skipped == 0
    for i, kind in enumerate(['truncated', 'garbage', 'missing'], 1):
        assert loader(dict(img_path=files[kind])) is None
        assert LoadImageFromFile.num_skipped == i
        message = captured_warnings[-1].getMessage()
        assert files[kind] in message
        assert f'{i} image(s) skipped' in message
    # the counter is shared by every instance of the class in the process
    assert LoadImageFromFile(skip_corrupt=True)(
        dict(img_path=files['empty'])) is None
    assert LoadImageFromFile.num_skipped == 4
    LoadImageFromFile.reset_skip_count()
    assert LoadImageFromFile.num_skipped == 0


def test_ignore_empty_returns_none_silently(corrupt_files):
    _, files = corrupt_files
    LoadImageFromFile.reset_skip_count()
    assert LoadImageFromFile(ignore_empty=True)(
        dict(img_path=files['missing'])) is None
    assert LoadImageFromFile.num_skipped == 0


class _ListDataset(BaseDataset):

    def __init__(self, items, **kwargs):
        self._items = items
        super().__init__(ann_file='', serialize_data=False, **kwargs)

    def load_data_list(self):
        return [
            dict(img_path=p, gt_label=i) for i, p in enumerate(self._items)
        ]


def test_dataset_refetches_after_a_skipped_image(corrupt_files):
    good, files = corrupt_files
    LoadImageFromFile.reset_skip_count()
    dataset = _ListDataset([files['truncated'], str(good)],
                           pipeline=[LoadImageFromFile(skip_corrupt=True)])
    np.random.seed(0)
    sample = dataset[0]
    assert sample['img_path'] == str(good)
    assert LoadImageFromFile.num_skipped >= 1


def test_load_sets_geometry_record(corrupt_files):
    good, _ = corrupt_files
    init_default_scope('mmfg')
    out = TRANSFORMS.build(dict(type='LoadImageFromFile'))(
        dict(img_path=str(good)))
    assert out['ori_shape'] == out['img_shape'] == (40, 60)
    assert out['trans_mat'].dtype == np.float64
    np.testing.assert_array_equal(out['trans_mat'], np.eye(3))
    assert 'skip_corrupt=False' in repr(
        TRANSFORMS.build(dict(type='LoadImageFromFile')))


def _mask_scene(tmp_path, h=30, w=50):
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[5:20, 10:40] = 255
    mask[22:25, 2:5] = 100
    cv2.imwrite(str(tmp_path / 'img.png'), img)
    cv2.imwrite(str(tmp_path / 'mask.png'), mask)
    return dict(
        img_path=str(tmp_path / 'img.png'),
        gt_mask_path=str(tmp_path / 'mask.png')), mask


def test_load_mask_grey_and_binarized(tmp_path):
    info, mask = _mask_scene(tmp_path)
    results = LoadImageFromFile()(dict(info))
    out = LoadMask()(dict(results))
    assert out['gt_mask'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_mask'], mask)
    out = LoadMask(binarize_threshold=127)(dict(results))
    np.testing.assert_array_equal(out['gt_mask'], (mask > 127))
    assert set(np.unique(out['gt_mask'])) == {0, 1}
    out = LoadMask(binarize_threshold=0)(dict(results))
    np.testing.assert_array_equal(out['gt_mask'], (mask > 0))
    with pytest.raises(ValueError, match='binarize_threshold'):
        LoadMask(binarize_threshold=300)


def test_load_mask_after_geometry_is_warped_into_place(tmp_path):
    info, mask = _mask_scene(tmp_path)
    results = LoadImageFromFile()(dict(info))
    results = Resize(scale=(100, 60))(results)
    results = RandomFlip(prob=1.0)(results)
    out = LoadMask(binarize_threshold=127)(results)
    expected = np.repeat(np.repeat(mask > 127, 2, 0), 2, 1)[:, ::-1]
    np.testing.assert_array_equal(out['gt_mask'], expected)


def test_load_mask_errors(tmp_path):
    info, _ = _mask_scene(tmp_path)
    results = LoadImageFromFile()(dict(info))
    cv2.imwrite(str(tmp_path / 'small.png'), np.zeros((10, 10), np.uint8))
    with pytest.raises(AnnotationError) as err:
        LoadMask()(dict(results, gt_mask_path=str(tmp_path / 'small.png')))
    assert 'small.png' in str(err.value) and 'img.png' in str(err.value)
    (tmp_path / 'bad.png').write_bytes(b'not a png at all')
    with pytest.raises(CorruptImageError, match='bad.png'):
        LoadMask()(dict(results, gt_mask_path=str(tmp_path / 'bad.png')))
    no_path = dict(results)
    no_path.pop('gt_mask_path')
    with pytest.raises(KeyError, match='gt_mask_path'):
        LoadMask()(no_path)


class _LoadDataset(torch.utils.data.Dataset):

    def __init__(self, path):
        self.path = path

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return LoadImageFromFile()(dict(img_path=self.path))['img']


def test_corrupt_image_in_a_worker_keeps_one_clear_message(corrupt_files):
    """torch re-raises a worker's exception as ``type(message)``: the error
    keeps its type, names the file, and gives the fix once."""
    _, files = corrupt_files
    loader = torch.utils.data.DataLoader(
        _LoadDataset(files['truncated']), num_workers=1)
    with pytest.raises(CorruptImageError) as info:
        next(iter(loader))
    msg = str(info.value)
    assert files['truncated'] in msg
    assert msg.count('skip_corrupt') == 1
    assert 'Cannot read image "Caught' not in msg

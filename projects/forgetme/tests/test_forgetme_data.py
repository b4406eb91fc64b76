"""ForgetMe dataset creation (segmenters, feathering, inpainting, tool) and
the dataset / transforms reading the four-folder layout."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmfg.registry import DATASETS, TASK_UTILS
from mmfg.utils.errors import AnnotationError, DatasetNotFoundError
from projects.forgetme.forgetme import (GrabCutSegmenter, MaskFolderSegmenter,
                                        OpenCVInpainter,
                                        create_forgetme_dataset, feather_mask)
from projects.forgetme.tools.create_dataset import main as create_main


def _disk_image(seed: int, size: int = 48):
    """A smooth two-colour background with a saturated red disk."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    bg = np.stack([0.3 + 0.3 * xx, 0.6 - 0.2 * yy, 0.5 + 0.1 * xx * yy], -1)
    img = (bg * 255).astype(np.uint8)
    cx, cy = (int(v) for v in rng.integers(size // 2 - 4, size // 2 + 4, 2))
    disk = (xx * size - cx)**2 + (yy * size - cy)**2 <= (size // 5)**2
    img[disk] = (220, 30, 30)
    return img, disk


@pytest.fixture(scope='module')
def raw_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('raw')
    for i in range(3):
        img, disk = _disk_image(i)
        os.makedirs(root / 'imgs' / f'c{i % 2}', exist_ok=True)
        os.makedirs(root / 'masks' / f'c{i % 2}', exist_ok=True)
        cv2.imwrite(str(root / 'imgs' / f'c{i % 2}' / f'im{i}.jpg'),
                    cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / 'masks' / f'c{i % 2}' / f'im{i}.png'),
                    disk.astype(np.uint8) * 255)
    return root


def test_grabcut_finds_the_object():
    seg = TASK_UTILS.build(dict(type='GrabCutSegmenter', margin=0.1))
    assert isinstance(seg, GrabCutSegmenter)
    for seed in range(2):
        img, disk = _disk_image(seed)
        mask = seg(img, '')
        iou = (mask & disk).sum() / (mask | disk).sum()
        assert iou > 0.8, iou


def test_feather_and_inpaint():
    disk = np.zeros((21, 21), bool)
    disk[8:13, 8:13] = True
    alpha = feather_mask(disk, feather=2, dilate=1)
    assert alpha.dtype == np.float32 and 0 <= alpha.min()
    assert alpha.max() <= 1
    assert alpha[10, 10] == pytest.approx(1.)  # interior stays 1
    assert alpha[0, 0] == 0.  # far away stays 0
    assert 0 < alpha[10, 6] < 1  # a soft border beyond the dilation
    assert np.array_equal(feather_mask(disk, 0, 0), disk.astype(np.float32))
    img, obj = _disk_image(0)
    out = OpenCVInpainter('telea', 3)(img, obj)
    assert np.array_equal(out[~obj], img[~obj])
    # the red disk is gone: the filled pixels look like the background
    assert out[obj][:, 0].mean() < 150 and img[obj][:, 0].mean() > 200
    with pytest.raises(ValueError, match='method'):
        OpenCVInpainter('lama')


def test_oracle_segmenter_errors(tmp_path, raw_dir):
    with pytest.raises(DatasetNotFoundError, match='segmentations'):
        MaskFolderSegmenter(str(tmp_path / 'nope'))
    seg = MaskFolderSegmenter(str(raw_dir / 'masks'))
    img, disk = _disk_image(0)
    assert np.array_equal(seg(img, 'c0/im0.jpg'), disk)
    with pytest.raises(DatasetNotFoundError, match='im9'):
        seg(img, 'c0/im9.jpg')


def test_tool_writes_layout_and_dataset_reads_it(tmp_path, raw_dir):
    out = tmp_path / 'fm'
    create_main([
        str(raw_dir / 'imgs'),
        str(out), '--segmenter', 'oracle', '--mask-dir',
        str(raw_dir / 'masks'), '--size', '32'
    ])
    for sub in ('original', 'foreground', 'background', 'mask'):
        assert sorted(os.listdir(out / sub)) == [
            'im0.png', 'im1.png', 'im2.png'
        ]
    ds = DATASETS.build(
        dict(
            type='ForgetMeDataset',
            data_root=str(out),
            img_folder='original',
            pipeline=[
                dict(type='LoadForgetMeImages', scale=16),
                dict(type='PackForgetMeInputs')
            ]))
    assert len(ds) == 3
    info = ds.get_data_info(1)
    assert info['name'] == 'im1' and info['img_path'] == info['orig_path']
    item = ds[1]
    assert tuple(item['inputs'].shape) == (3, 16, 16)
    sample = item['data_samples']
    assert tuple(sample.gt_orig.shape) == (3, 16, 16)
    assert set(sample.gt_mask.unique().tolist()) == {0, 1}
    assert sample.name == 'im1'
    # the mask covers the (dilated) disk: about pi * (48/5)^2 / 48^2 = 12 %
    assert 0.08 < sample.gt_mask.float().mean() < 0.35
    bg = DATASETS.build(dict(type='ForgetMeDataset', data_root=str(out)))
    assert bg.get_data_info(0)['img_path'].endswith(
        osp.join('background', 'im0.png'))


def test_dataset_errors(tmp_path, raw_dir):
    out = tmp_path / 'fm'
    create_forgetme_dataset(
        str(raw_dir / 'imgs'), str(out), GrabCutSegmenter(),
        OpenCVInpainter(), size=24)
    cfg = dict(type='ForgetMeDataset', data_root=str(out))
    os.remove(out / 'mask' / 'im2.png')
    with pytest.raises(AnnotationError, match=r"mask.*missing here \['im2'\]"):
        DATASETS.build(cfg)
    cv2.imwrite(str(out / 'mask' / 'im2.png'), np.zeros((20, 24), np.uint8))
    with pytest.raises(AnnotationError, match='differ in size'):
        DATASETS.build(cfg)
    os.rename(out / 'background', out / 'bg')
    with pytest.raises(DatasetNotFoundError, match='background'):
        DATASETS.build(cfg)
    with pytest.raises(ValueError, match='img_folder'):
        DATASETS.build(dict(cfg, img_folder='inpainted'))


def test_duplicate_names_are_an_error(tmp_path, raw_dir):
    os.makedirs(tmp_path / 'in' / 'a')
    os.makedirs(tmp_path / 'in' / 'b')
    img, _ = _disk_image(0)
    cv2.imwrite(str(tmp_path / 'in' / 'a' / 'x.png'), img)
    cv2.imwrite(str(tmp_path / 'in' / 'b' / 'x.jpg'), img)
    with pytest.raises(ValueError, match='same file name'):
        create_forgetme_dataset(
            str(tmp_path / 'in'), str(tmp_path / 'out'), GrabCutSegmenter(),
            OpenCVInpainter())

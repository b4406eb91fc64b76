"""mmfg transforms produce the same image as the mmcv / MMPretrain originals.

For each transform and a spread of arguments, the original and the mmfg
version run on the same image from the same ``np.random`` seed; the images
(and the keys the original writes) must be identical and both must consume
the same random draws. The mmfg run also carries boxes, parts and a mask, to
show that handling them changes nothing in the image path.
"""
import cv2
import mmcv.transforms as mmcv_t
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmpretrain.datasets import transforms as mmpt_t

from mmfg.datasets import transforms as fg_t
from mmfg.registry import TRANSFORMS

SEEDS = (0, 1, 2, 3)
H, W = 57, 83


def _image():
    return np.random.RandomState(42).randint(0, 256, (H, W, 3), np.uint8)


def _fg_extras():
    return dict(
        gt_bboxes=np.array([[5., 6., 60., 50.]], np.float32),
        gt_parts=np.array([[10.5, 10.5, 1], [0, 0, 0], [70.5, 40.5, 1]],
                          np.float32),
        part_flip_pairs=[(0, 2)],
        gt_mask=(np.random.RandomState(7).rand(H, W) > 0.5).astype(np.uint8),
        trans_mat=np.eye(3))


def _mmcv_extras():
    # fields the mmcv originals handle themselves; mmfg must still handle
    # them exactly as mmcv does
    return dict(
        gt_seg_map=np.random.RandomState(3).randint(0, 5, (H, W), np.uint8),
        gt_keypoints=np.array([[[10., 12., 1.], [80., 50., 1.]]], np.float32))


def _run(transform, results, seed):
    np.random.seed(seed)
    out = transform(results)
    return out, np.random.rand()


def _check_equivalent(original, ours, with_mmcv_fields=False):
    for seed in SEEDS:
        base = dict(img=_image(), img_shape=(H, W), ori_shape=(H, W))
        if with_mmcv_fields:
            base.update(_mmcv_extras())
        ref, ref_next = _run(
            original, {
                k: (v.copy() if isinstance(v, np.ndarray) else v)
                for k, v in base.items()
            }, seed)
        got, got_next = _run(ours, dict(base, **_fg_extras()), seed)
        np.testing.assert_array_equal(got['img'], ref['img'])
        assert got['img'].dtype == ref['img'].dtype
        assert got_next == ref_next, 'different number of random draws'
        assert tuple(got['img_shape']) == tuple(ref['img'].shape[:2])
        for key in ('scale', 'scale_factor', 'keep_ratio', 'flip',
                    'flip_direction', 'pad_shape'):
            if key in ref:
                assert got[key] == ref[key], key
        if with_mmcv_fields:
            np.testing.assert_array_equal(got['gt_seg_map'], ref['gt_seg_map'])
            np.testing.assert_allclose(got['gt_keypoints'],
                                       ref['gt_keypoints'])
        # and the extra fields followed the image
        assert got['gt_mask'].shape == got['img'].shape[:2]


@pytest.mark.parametrize('kwargs', [
    dict(scale=(40, 30)),
    dict(scale=50, keep_ratio=True),
    dict(scale=(90, 20), keep_ratio=True, backend='pillow'),
    dict(scale_factor=0.7),
    dict(scale_factor=(1.5, 0.5)),
    dict(scale=(64, 48), interpolation='nearest'),
    dict(scale=(64, 48), interpolation='bicubic'),
    dict(scale=(64, 48), interpolation='area'),
    dict(scale=(64, 48), interpolation='lanczos'),
    dict(scale=(64, 48), backend='pillow'),
    dict(scale=(30, 20), clip_object_border=False),
])
def test_resize(kwargs):
    _check_equivalent(
        mmcv_t.Resize(**kwargs), fg_t.Resize(**kwargs), with_mmcv_fields=True)


@pytest.mark.parametrize('kwargs', [
    dict(scale=40),
    dict(scale=40, edge='long'),
    dict(scale=70, edge='width'),
    dict(scale=70, edge='height'),
    dict(scale=40, backend='pillow'),
    dict(scale=100, interpolation='bicubic'),
])
def test_resize_edge(kwargs):
    _check_equivalent(mmpt_t.ResizeEdge(**kwargs), fg_t.ResizeEdge(**kwargs))


@pytest.mark.parametrize('kwargs', [
    dict(crop_size=32),
    dict(crop_size=(40, 20)),
    dict(crop_size=(100, 30)),
    dict(crop_size=(100, 70), auto_pad=True),
    dict(
        crop_size=(100, 70),
        auto_pad=True,
        pad_cfg=dict(type='Pad', padding_mode='reflect')),
    dict(crop_size=(30, 30), clip_object_border=False),
])
def test_center_crop(kwargs):
    _check_equivalent(
        mmcv_t.CenterCrop(**kwargs),
        fg_t.CenterCrop(**kwargs),
        with_mmcv_fields=True)


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(crop_size=32),
        dict(crop_size=(40, 20)),
        dict(crop_size=(H, W)),
        dict(crop_size=32, padding=4),
        dict(crop_size=32, padding=(2, 6)),
        dict(crop_size=(50, 80), padding=(1, 2, 3, 4), pad_val=(1, 2, 3)),
        dict(crop_size=100, pad_if_needed=True),
        dict(crop_size=(70, 100), pad_if_needed=True, padding_mode='reflect'),
        dict(
            crop_size=(70, 100),
            pad_if_needed=True,
            padding_mode='edge',
            padding=3),
        dict(
            crop_size=(70, 100), pad_if_needed=True, padding_mode='symmetric'),
        dict(crop_size=(100, 100)),  # bigger than the image, no padding
    ])
def test_random_crop(kwargs):
    _check_equivalent(mmpt_t.RandomCrop(**kwargs), fg_t.RandomCrop(**kwargs))


@pytest.mark.parametrize('kwargs', [
    dict(scale=32),
    dict(scale=(40, 24)),
    dict(scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(scale=48, aspect_ratio_range=(0.2, 0.3), max_attempts=0),
    dict(scale=48, aspect_ratio_range=(3., 4.), max_attempts=0),
    dict(scale=48, max_attempts=0),
    dict(scale=40, interpolation='nearest'),
    dict(scale=40, interpolation='bicubic'),
    dict(scale=40, interpolation='area'),
    dict(scale=40, interpolation='lanczos'),
    dict(scale=40, backend='pillow'),
])
def test_random_resized_crop(kwargs):
    _check_equivalent(
        mmpt_t.RandomResizedCrop(**kwargs), fg_t.RandomResizedCrop(**kwargs))


@pytest.mark.parametrize('kwargs', [
    dict(prob=1.0),
    dict(prob=0.5),
    dict(prob=0.0),
    dict(prob=1.0, direction='vertical'),
    dict(prob=1.0, direction='diagonal'),
    dict(prob=0.9, direction=['horizontal', 'vertical', 'diagonal']),
    dict(prob=[0.3, 0.5], direction=['horizontal', 'vertical']),
    dict(prob=1.0, swap_seg_labels=[(1, 2)]),
])
def test_random_flip(kwargs):
    _check_equivalent(
        mmcv_t.RandomFlip(**kwargs),
        fg_t.RandomFlip(**kwargs),
        with_mmcv_fields=True)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(to_float32=True),
    dict(color_type='grayscale'),
    dict(color_type='unchanged'),
    dict(imdecode_backend='pillow'),
    dict(backend_args=dict(backend='local')),
])
def test_load_image_from_file(tmp_path, kwargs):
    path = str(tmp_path / 'img.png')
    img = _image()
    img[..., 0] = 7  # a constant channel, so colour handling matters
    cv2.imwrite(path, img)
    ref = mmcv_t.LoadImageFromFile(**kwargs)(dict(img_path=path))
    got = fg_t.LoadImageFromFile(**kwargs)(dict(img_path=path))
    np.testing.assert_array_equal(got['img'], ref['img'])
    assert got['img'].dtype == ref['img'].dtype
    assert got['img_shape'] == ref['img_shape']
    assert got['ori_shape'] == ref['ori_shape']
    np.testing.assert_array_equal(got['trans_mat'], np.eye(3))


def test_registry_resolves_mmfg_versions_by_the_original_names():
    init_default_scope('mmfg')
    cfgs = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=32),
        dict(type='ResizeEdge', scale=32),
        dict(type='RandomResizedCrop', scale=32),
        dict(type='CenterCrop', crop_size=32),
        dict(type='RandomCrop', crop_size=32),
        dict(type='RandomFlip', prob=0.5),
    ]
    originals = [
        mmcv_t.LoadImageFromFile, mmcv_t.Resize, mmpt_t.ResizeEdge,
        mmpt_t.RandomResizedCrop, mmcv_t.CenterCrop, mmpt_t.RandomCrop,
        mmcv_t.RandomFlip
    ]
    for cfg, original in zip(cfgs, originals):
        built = TRANSFORMS.build(cfg)
        assert type(built).__module__.startswith('mmfg.'), cfg
        assert isinstance(built, original)

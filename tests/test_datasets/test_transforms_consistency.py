"""Boxes, parts and masks stay consistent with the image through transforms.

The synthetic scene: a grey image with a filled rectangle (the box), a filled
ellipse inside it (the mask) and one coloured square dot per visible part.
After any transform or random composition

- the pixel under each visible part has the colour of that part's dot (after
  a mirroring flip, of its left/right partner's dot),
- the mask covers the ellipse's pixels up to a boundary band,
- the box is the bounding box of the drawn pixels,
- ``trans_mat`` maps the original part coordinates onto the current ones and
  :func:`map_to_original` maps them back.
"""
import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

from mmfg.datasets import transforms as fg_t
from mmfg.datasets.transforms.geometry import (apply_affine_to_boxes,
                                               apply_affine_to_points,
                                               map_to_original)
from mmfg.registry import TRANSFORMS
from mmfg.utils.errors import AnnotationError

H, W = 120, 160
BG = (128, 128, 128)
BOX_COLOUR = (200, 60, 60)
MASK_COLOUR = (60, 200, 60)
BOX = (30, 20, 130, 100)  # x1, y1, x2, y2 (continuous, end exclusive)
DOT_RADIUS = 5
# part centres in pixel indices (None: invisible) and dot colours (BGR)
PART_PIXELS = [(48, 38), (112, 38), (80, 50), None, (40, 88)]
PART_COLOURS = [(255, 0, 0), (0, 0, 255), (0, 255, 255), None, (255, 0, 255)]
FLIP_PAIRS = [(0, 1)]
TOL = 40


def make_scene():
    """Image, mask and annotations of the synthetic scene."""
    img = np.full((H, W, 3), BG, np.uint8)
    x1, y1, x2, y2 = BOX
    img[y1:y2, x1:x2] = BOX_COLOUR
    cv2.ellipse(img, (80, 78), (28, 12), 0, 0, 360, MASK_COLOUR, -1)
    mask = np.all(img == MASK_COLOUR, axis=-1).astype(np.uint8)
    parts = np.zeros((len(PART_PIXELS), 3), np.float32)
    for k, (centre, colour) in enumerate(zip(PART_PIXELS, PART_COLOURS)):
        if centre is None:
            continue
        cx, cy = centre
        img[cy - DOT_RADIUS:cy + DOT_RADIUS + 1,
            cx - DOT_RADIUS:cx + DOT_RADIUS + 1] = colour
        parts[k] = (cx + 0.5, cy + 0.5, 1)
    return dict(
        img=img,
        img_shape=(H, W),
        ori_shape=(H, W),
        trans_mat=np.eye(3),
        gt_bboxes=np.array([BOX], np.float32),
        gt_parts=parts,
        part_flip_pairs=list(FLIP_PAIRS),
        gt_mask=mask,
        img_path='scene.png')


def _close(img, colour, tol=TOL):
    return np.all(np.abs(img.astype(np.int32) - colour) <= tol, axis=-1)


def _linear_scales(mat):
    return abs(mat[0, 0]) + abs(mat[0, 1]), abs(mat[1, 0]) + abs(mat[1, 1])


def _permutation(trans_mat):
    perm = np.arange(len(PART_PIXELS))
    if np.linalg.det(trans_mat[:2, :2]) < 0:
        for i, j in FLIP_PAIRS:
            perm[i], perm[j] = perm[j], perm[i]
    return perm  # output row r holds original part perm[r]


def assert_consistent(out, history=()):
    """Check every geometric field of ``out`` against its image.

    Args:
        out (dict): transformed scene.
        history (Sequence[tuple]): ``(trans_mat, (h, w))`` after each step:
            an independent record of where each intermediate image lay (a
            part or box edge that left an intermediate image stays out even
            if later padding covers its place again) and of the scales that
            size the tolerance band of accumulated interpolation.
    """
    scene = make_scene()
    img, mat = out['img'], out['trans_mat']
    h, w = img.shape[:2]
    assert tuple(out['img_shape']) == (h, w)
    assert out['gt_mask'].shape == (h, w) and out['gt_mask'].dtype == np.uint8
    assert mat.shape == (3, 3) and mat.dtype == np.float64

    # Tolerances from the resampling steps (crops, pads and flips are
    # exact): a resize by s may move an edge of the mask (nearest) or of the
    # drawn region (interpolation + colour threshold) by about max(1, 1.5 s)
    # of its output pixels, magnified by what came after it; and it eats
    # about one source pixel of the pure core of each dot.
    final = max(_linear_scales(mat))
    band, core, prev = 1., DOT_RADIUS + 0.5, np.eye(3)
    for m, _ in history:
        step = m @ np.linalg.inv(prev)
        prev = m
        if np.allclose(np.abs(step[:2, :2]), np.eye(2)):
            continue
        after = final / min(_linear_scales(m))
        band += after * max(1., 1.5 * max(_linear_scales(step)))
        core = (core - 1) * min(_linear_scales(step))
    band = math.ceil(band)
    # every intermediate image, as a rectangle in the final coordinates
    frames = [
        apply_affine_to_boxes(
            np.array([[0., 0., sw, sh]]), mat @ np.linalg.inv(m))[0]
        for m, (sh, sw) in history
    ] + [np.array([0., 0., w, h])]
    lo = np.max([f[:2] for f in frames], axis=0)
    hi = np.min([f[2:] for f in frames], axis=0)

    # parts: trans_mat maps the originals onto them; colours match
    perm = _permutation(mat)
    parts = out['gt_parts']
    assert parts.dtype == np.float32 and parts.shape == (5, 3)
    for r, k in enumerate(perm):
        orig = scene['gt_parts'][k]
        if orig[2] == 0:
            assert parts[r].tolist() == [0, 0, 0]
            continue
        x, y = apply_affine_to_points(orig[None, :2], mat)[0]
        if lo[0] - 1e-6 <= x < hi[0] - 1e-6 and lo[1] - 1e-6 <= y < hi[
                1] - 1e-6:
            assert parts[r, 2] == 1
            np.testing.assert_allclose(parts[r, :2], (x, y), atol=1e-3)
            if core >= 1:  # the pixel under the point is pure dot
                pixel = img[int(y), int(x)].astype(int)
                assert np.all(np.abs(pixel - PART_COLOURS[k]) <= TOL), (
                    f'part row {r} (orig {k}) at ({x:.1f}, {y:.1f}) has '
                    f'colour {pixel}, expected {PART_COLOURS[k]}')
        else:
            assert parts[r].tolist() == [0, 0, 0]
    # map_to_original (with the pairs) gives back row k = original part k
    back = map_to_original(parts, mat, part_flip_pairs=FLIP_PAIRS)
    for r in range(len(parts)):
        k = perm[r]
        if parts[r, 2] > 0:
            np.testing.assert_allclose(
                back[k], scene['gt_parts'][k], atol=1e-3)
        else:
            assert back[k].tolist() == [0, 0, 0]

    # mask: the ellipse's pixels, up to the boundary band (an edge just
    # outside the image is within the band of the image border)
    kernel = np.ones((3, 3), np.uint8)
    drawn = _close(img, MASK_COLOUR).astype(np.uint8)
    mask = (out['gt_mask'] > 0).astype(np.uint8)
    grown = cv2.dilate(
        mask,
        kernel,
        iterations=band,
        borderType=cv2.BORDER_CONSTANT,
        borderValue=1)
    shrunk = cv2.erode(
        mask,
        kernel,
        iterations=band,
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0)
    assert not np.any(drawn & (1 - grown)), 'mask misses drawn pixels'
    assert not np.any(shrunk & (1 - drawn)), 'mask covers undrawn pixels'

    # box: the bounding box of everything drawn (all inside the box)
    boxes = out['gt_bboxes']
    valid = out.get('gt_bboxes_valid', np.ones(len(boxes), bool))
    assert boxes.dtype == np.float32 and boxes.shape == (1, 4)
    assert valid.dtype == bool and valid.shape == (1, )
    assert boxes[0, 0] >= 0 and boxes[0, 2] <= w
    assert boxes[0, 1] >= 0 and boxes[0, 3] <= h
    expected = apply_affine_to_boxes(np.array([BOX], float), mat)[0]
    expected[:2] = np.maximum(expected[:2], lo)
    expected[2:] = np.minimum(expected[2:], hi)
    expect_valid = bool(np.all(expected[2:] > expected[:2]))
    assert valid[0] == expect_valid
    if expect_valid:
        np.testing.assert_allclose(boxes[0], expected, atol=1e-3)
    fg = _close(img, BOX_COLOUR) | _close(img, MASK_COLOUR)
    for colour in PART_COLOURS:
        if colour is not None:
            fg |= _close(img, colour)
    ys, xs = np.nonzero(fg)
    if not valid[0]:
        assert len(xs) == 0, 'an invalid box must not be visible'
    elif min(boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]) > 2 * band:
        drawn_box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_allclose(drawn_box, boxes[0], atol=band)


def _apply(transforms, seed=0):
    np.random.seed(seed)
    results, history = make_scene(), []
    for t in transforms:
        results = t(results)
        history.append((results['trans_mat'].copy(), results['img'].shape[:2]))
    return results, history


def test_scene_is_consistent_before_any_transform():
    assert_consistent(make_scene())


SINGLE = [
    dict(type='Resize', scale=(200, 90)),
    dict(type='Resize', scale=(80, 60)),
    dict(type='Resize', scale=100, keep_ratio=True),
    dict(type='Resize', scale_factor=1.7),
    dict(type='Resize', scale=(64, 48), interpolation='nearest'),
    dict(type='Resize', scale=(230, 150), backend='pillow'),
    dict(type='ResizeEdge', scale=90),
    dict(type='ResizeEdge', scale=200, edge='long'),
    dict(type='RandomResizedCrop', scale=96),
    dict(
        type='RandomResizedCrop',
        scale=(100, 150),
        crop_ratio_range=(0.1, 0.3)),
    dict(type='CenterCrop', crop_size=64),
    dict(type='CenterCrop', crop_size=(90, 40)),
    dict(type='CenterCrop', crop_size=(200, 150), auto_pad=True),
    dict(type='RandomCrop', crop_size=50),
    dict(type='RandomCrop', crop_size=(100, 130), padding=(3, 4, 5, 6)),
    dict(type='RandomCrop', crop_size=150, pad_if_needed=True),
    dict(
        type='RandomCrop', crop_size=(140, 180), padding=7,
        pad_if_needed=True),
    dict(type='RandomFlip', prob=1.0),
    dict(type='RandomFlip', prob=1.0, direction='vertical'),
    dict(type='RandomFlip', prob=1.0, direction='diagonal'),
    dict(type='BBoxCrop'),
    # mmcv wrappers that build `Resize` from the registry get mmfg's one
    dict(type='RandomChoiceResize', scales=[(200, 150), (100, 80)]),
    dict(
        type='RandomResize',
        scale=(200, 150),
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='BBoxCrop', margin=0.2),
    dict(type='BBoxCrop', margin=(0.5, 1.0), mode='union'),
]


@pytest.mark.parametrize('cfg', SINGLE, ids=lambda c: str(c))
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_each_transform_keeps_fields_consistent(cfg, seed):
    init_default_scope('mmfg')
    out, history = _apply([TRANSFORMS.build(cfg)], seed)
    assert_consistent(out, history)


def test_horizontal_flip_swaps_left_and_right_parts():
    out, _ = _apply([fg_t.RandomFlip(prob=1.0)])
    scene = make_scene()
    left, right = scene['gt_parts'][0], scene['gt_parts'][1]
    # the left-eye row now holds the mirrored right eye, and vice versa
    np.testing.assert_allclose(out['gt_parts'][0], [W - right[0], right[1], 1])
    np.testing.assert_allclose(out['gt_parts'][1], [W - left[0], left[1], 1])
    np.testing.assert_allclose(
        out['gt_parts'][2, :2],
        [W - scene['gt_parts'][2, 0], scene['gt_parts'][2, 1]])
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'
    # without part_flip_pairs nothing is swapped
    np.random.seed(0)
    res = make_scene()
    res.pop('part_flip_pairs')
    res = fg_t.RandomFlip(prob=1.0)(res)
    np.testing.assert_allclose(res['gt_parts'][0], [W - left[0], left[1], 1])
    # two flips: net state is "not flipped", parts back in place
    out, _ = _apply([fg_t.RandomFlip(prob=1.0), fg_t.RandomFlip(prob=1.0)])
    np.testing.assert_allclose(out['gt_parts'], scene['gt_parts'])
    assert out['flip'] is False and out['flip_direction'] is None
    np.testing.assert_allclose(out['trans_mat'], np.eye(3))


def test_diagonal_flip_does_not_swap():
    out, _ = _apply([fg_t.RandomFlip(prob=1.0, direction='diagonal')])
    scene = make_scene()
    x, y = scene['gt_parts'][0, :2]
    np.testing.assert_allclose(out['gt_parts'][0], [W - x, H - y, 1])


def test_random_crop_with_reflect_padding_maps_coordinates():
    # reflect padding shows mirrored content in the border, so only the
    # parts / mask / trans_mat are checked, not the drawn box extent
    t = fg_t.RandomCrop(
        crop_size=(160, 200), pad_if_needed=True, padding_mode='reflect')
    np.random.seed(3)
    out = t(make_scene())
    mat = out['trans_mat']
    assert mat[0, 2] == mat[1, 2] == 20  # (200-160)/2 and (160-120)/2
    for k, colour in enumerate(PART_COLOURS):
        if colour is not None:
            x, y = out['gt_parts'][k, :2]
            assert np.all(
                np.abs(out['img'][int(y), int(x)].astype(int) - colour) <= TOL)
    assert out['gt_mask'][:20].sum() == 0  # padded rows are background


def test_bbox_crop_crops_to_the_box_and_errors_without_one():
    out, _ = _apply([fg_t.BBoxCrop()])
    x1, y1, x2, y2 = BOX
    assert out['img'].shape[:2] == (y2 - y1, x2 - x1)
    np.testing.assert_array_equal(out['img'],
                                  make_scene()['img'][y1:y2, x1:x2])
    np.testing.assert_allclose(out['gt_bboxes'], [[0, 0, x2 - x1, y2 - y1]])
    # margins are relative to the box size, clipped to the image
    out, _ = _apply([fg_t.BBoxCrop(margin=0.1)])
    assert out['img'].shape[:2] == (80 + 16, 100 + 20)
    out, _ = _apply([fg_t.BBoxCrop(margin=1.0)])
    assert out['img'].shape[:2] == (H, W)
    # union of boxes; invalid boxes are ignored
    res = make_scene()
    res['gt_bboxes'] = np.array(
        [[10, 10, 20, 20], [50, 40, 60.5, 70], [0, 0, 150, 110]], np.float32)
    res['gt_bboxes_valid'] = np.array([True, True, False])
    out = fg_t.BBoxCrop(mode='union')(res)
    assert out['img'].shape[:2] == (60, 51)  # ceil(60.5) - 10
    assert out['gt_bboxes_valid'].tolist() == [True, True, False]
    # no box
    res = make_scene()
    res.pop('gt_bboxes')
    with pytest.raises(AnnotationError, match='allow_missing'):
        fg_t.BBoxCrop()(dict(res))
    kept = fg_t.BBoxCrop(allow_missing=True)(dict(res))
    assert kept['img'].shape[:2] == (H, W)
    res['gt_bboxes'] = np.zeros((0, 4), np.float32)
    with pytest.raises(AnnotationError, match='scene.png'):
        fg_t.BBoxCrop()(dict(res))
    with pytest.raises(ValueError, match='mode'):
        fg_t.BBoxCrop(mode='largest')


def test_box_cropped_out_is_kept_and_marked_invalid():
    res = make_scene()
    res['gt_bboxes'] = np.array([BOX, [0, 0, 10, 10]], np.float32)
    out = fg_t.CenterCrop(crop_size=60)(res)
    assert out['gt_bboxes'].shape == (2, 4)
    assert out['gt_bboxes_valid'].tolist() == [True, False]


def test_geometry_out_of_sync_mask_is_reported():
    res = make_scene()
    res['gt_mask'] = res['gt_mask'][:50]
    with pytest.raises(ValueError, match='gt_mask'):
        fg_t.Resize(scale=(10, 10))(res)


def _draw_transform(data, h, w):
    """Draw one transform whose resampling scale stays in [0.6, 2]."""

    def side(lo, hi):
        lo, hi = max(8, int(lo)), max(8, min(400, int(hi)))
        return data.draw(st.integers(min(lo, hi), hi))

    kind = data.draw(
        st.sampled_from([
            'resize', 'resize_keep', 'resize_edge', 'rrc', 'center_crop',
            'random_crop', 'flip', 'flip_random', 'bbox_crop'
        ]))
    if kind == 'resize':
        return fg_t.Resize(scale=(side(0.6 * w, 2 * w), side(0.6 * h, 2 * h)))
    if kind == 'resize_keep':
        factor = data.draw(st.floats(0.6, min(2.0, 400 / max(h, w))))
        return fg_t.Resize(scale_factor=max(factor, 0.6), keep_ratio=True)
    if kind == 'resize_edge':
        edge = data.draw(st.sampled_from(['short', 'long', 'width', 'height']))
        ref = {
            'short': min(h, w),
            'long': max(h, w),
            'width': w,
            'height': h
        }[edge]
        return fg_t.ResizeEdge(
            scale=side(0.6 * ref, min(2 * ref, 400 * ref / max(h, w))),
            edge=edge)
    if kind == 'rrc':
        return fg_t.RandomResizedCrop(
            scale=(side(0.6 * h, 1.5 * h), side(0.6 * w, 1.5 * w)),
            crop_ratio_range=(0.3, 1.0))
    if kind == 'center_crop':
        return fg_t.CenterCrop(
            crop_size=(side(0.3 * w, 1.3 * w), side(0.3 * h, 1.3 * h)),
            auto_pad=data.draw(st.booleans()))
    if kind == 'random_crop':
        return fg_t.RandomCrop(
            crop_size=(side(0.3 * h, 1.3 * h), side(0.3 * w, 1.3 * w)),
            padding=data.draw(
                st.sampled_from([None, 3, (2, 5), (1, 2, 3, 4)])),
            pad_if_needed=data.draw(st.booleans()))
    if kind == 'flip':
        return fg_t.RandomFlip(
            prob=1.0,
            direction=data.draw(
                st.sampled_from(['horizontal', 'vertical', 'diagonal'])))
    if kind == 'flip_random':
        return fg_t.RandomFlip(
            prob=0.75, direction=['horizontal', 'vertical', 'diagonal'])
    return fg_t.BBoxCrop(
        margin=data.draw(st.floats(0, 0.3)),
        mode=data.draw(st.sampled_from(['first', 'union'])),
        allow_missing=True)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_pipelines_keep_fields_consistent(data):
    np.random.seed(data.draw(st.integers(0, 2**31 - 1), label='seed'))
    results, history = make_scene(), []
    for _ in range(data.draw(st.integers(1, 4), label='steps')):
        h, w = results['img'].shape[:2]
        results = _draw_transform(data, h, w)(results)
        history.append((results['trans_mat'].copy(), results['img'].shape[:2]))
    assert_consistent(results, history)


def test_config_pipeline_from_files_to_data_sample(tmp_path):
    scene = make_scene()
    cv2.imwrite(str(tmp_path / 'img.png'), scene['img'])
    cv2.imwrite(str(tmp_path / 'mask.png'), scene['gt_mask'] * 255)
    init_default_scope('mmfg')
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='LoadMask', binarize_threshold=127),
        dict(type='Resize', scale=(200, 150)),
        dict(type='RandomResizedCrop', scale=128, crop_ratio_range=(0.5, 1)),
        dict(type='RandomFlip', prob=1.0),
        dict(type='PackFGInputs'),
    ])
    info = dict(
        img_path=str(tmp_path / 'img.png'),
        gt_mask_path=str(tmp_path / 'mask.png'),
        img_id=7,
        gt_label=3,
        gt_bboxes=scene['gt_bboxes'],
        gt_parts=scene['gt_parts'],
        part_flip_pairs=FLIP_PAIRS,
        attributes=np.array([0, 1, 1], np.float32))
    np.random.seed(5)
    packed = pipeline(dict(info))
    # the same steps one by one, recording the intermediate geometry
    np.random.seed(5)
    results, history = dict(info), []
    for t in pipeline.transforms[:-1]:
        results = t(results)
        history.append((results['trans_mat'].copy(), results['img'].shape[:2]))
    step_packed = pipeline.transforms[-1](results)
    assert torch.equal(step_packed['inputs'], packed['inputs'])

    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, 128, 128) and inputs.dtype == torch.uint8
    assert sample.gt_mask.shape == (128, 128)
    assert sample.gt_mask.dtype == torch.uint8
    assert sample.img_id == 7 and sample.gt_label.tolist() == [3]
    assert sample.flip is True and sample.flip_direction == 'horizontal'
    assert sample.ori_shape == (H, W) and sample.img_shape == (128, 128)
    np.testing.assert_array_equal(sample.trans_mat, history[-1][0])
    # the packed tensors pass the same numeric checks as the arrays
    out = dict(
        img=inputs.permute(1, 2, 0).numpy(),
        img_shape=sample.img_shape,
        trans_mat=sample.trans_mat,
        gt_bboxes=sample.gt_bboxes.numpy(),
        gt_bboxes_valid=sample.gt_bboxes_valid.numpy(),
        gt_parts=sample.gt_parts.numpy(),
        gt_mask=sample.gt_mask.numpy())
    assert_consistent(out, history)

"""Unit tests of the shared geometry (boxes, parts, masks, trans_mat)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmfg.datasets.transforms import geometry as geo


def test_elementary_matrices_follow_the_convention():
    # resize by s: x -> x s; crop at x0: x -> x - x0; hflip: x -> W - x
    pts = np.array([[2., 3.], [0., 0.]])
    np.testing.assert_allclose(
        geo.apply_affine_to_points(pts, geo.scale_matrix(2, 0.5)),
        [[4., 1.5], [0., 0.]])
    np.testing.assert_allclose(
        geo.apply_affine_to_points(pts, geo.translate_matrix(-2, -1)),
        [[0., 2.], [-2., -1.]])
    np.testing.assert_allclose(
        geo.apply_affine_to_points(pts,
                                   geo.flip_matrix('horizontal', (10, 20))),
        [[18., 3.], [20., 0.]])
    np.testing.assert_allclose(
        geo.apply_affine_to_points(pts, geo.flip_matrix('vertical', (10, 20))),
        [[2., 7.], [0., 10.]])
    np.testing.assert_allclose(
        geo.apply_affine_to_points(pts, geo.flip_matrix('diagonal', (10, 20))),
        [[18., 7.], [20., 10.]])
    with pytest.raises(ValueError, match='direction'):
        geo.flip_matrix('sideways', (4, 4))


def test_boxes_stay_ordered_under_flips_and_clip_marks_empty():
    boxes = np.array([[1., 2., 5., 6.]], np.float32)
    flipped = geo.apply_affine_to_boxes(boxes,
                                        geo.flip_matrix('diagonal', (10, 8)))
    np.testing.assert_allclose(flipped, [[3., 4., 7., 8.]])
    clipped, valid = geo.clip_boxes(
        np.array([[-5., -5., 3., 3.], [12., 1., 15., 4.], [2., 2., 2., 9.]]),
        (10, 10))
    np.testing.assert_allclose(clipped[0], [0, 0, 3, 3])
    np.testing.assert_allclose(clipped[1], [10, 1, 10, 4])
    assert valid.tolist() == [True, False, False]


def test_parts_rules_outside_and_invisible():
    parts = np.array([[1.5, 1.5, 1], [9.5, 1.5, 1], [0, 0, 0]], np.float32)
    out = geo.transform_parts(parts, geo.translate_matrix(-2, 0), (4, 8))
    np.testing.assert_allclose(out, [[0, 0, 0], [7.5, 1.5, 1], [0, 0, 0]])
    # a point on the right border (x == W) is outside, x == 0 is inside
    out = geo.transform_parts(
        np.array([[8., 1., 1], [0., 0., 1]], np.float32), np.eye(3), (4, 8))
    np.testing.assert_allclose(out, [[0, 0, 0], [0, 0, 1]])
    # invisible parts stay (0, 0, 0) even under a flip (which maps 0 -> W)
    out = geo.transform_parts(parts, geo.flip_matrix('horizontal', (4, 10)),
                              (4, 10))
    assert out[2].tolist() == [0, 0, 0]


def test_swap_part_pairs_validates():
    parts = np.arange(9, dtype=np.float32).reshape(3, 3)
    np.testing.assert_array_equal(
        geo.swap_part_pairs(parts, [(0, 2)]), parts[[2, 1, 0]])
    with pytest.raises(IndexError, match='only 3 rows'):
        geo.swap_part_pairs(parts, [(0, 5)])
    with pytest.raises(ValueError, match='pairs'):
        geo.swap_part_pairs(parts, [(0, 1, 2)])


def test_compose_flip_directions():
    assert geo.compose_flip_directions(None, 'horizontal') == 'horizontal'
    assert geo.compose_flip_directions('horizontal', 'horizontal') is None
    assert geo.compose_flip_directions('horizontal', 'vertical') == 'diagonal'
    assert geo.compose_flip_directions('diagonal', 'vertical') == 'horizontal'
    assert geo.compose_flip_directions('vertical', None) == 'vertical'


def test_warp_mask_exact_for_crop_pad_flip_and_integer_zoom():
    rng = np.random.RandomState(0)
    mask = (rng.rand(37, 53) > 0.5).astype(np.uint8)
    np.testing.assert_array_equal(
        geo.warp_mask(mask, geo.translate_matrix(-5, -7), (20, 30)),
        mask[7:27, 5:35])
    padded = np.zeros((45, 60), np.uint8)
    padded[2:39, 3:56] = mask
    np.testing.assert_array_equal(
        geo.warp_mask(mask, geo.translate_matrix(3, 2), (45, 60)), padded)
    np.testing.assert_array_equal(
        geo.warp_mask(mask, geo.flip_matrix('horizontal', mask.shape),
                      mask.shape), mask[:, ::-1])
    np.testing.assert_array_equal(
        geo.warp_mask(mask, geo.flip_matrix('vertical', mask.shape),
                      mask.shape), mask[::-1])
    np.testing.assert_array_equal(
        geo.warp_mask(mask, geo.scale_matrix(2, 3), (111, 106)),
        np.repeat(np.repeat(mask, 3, 0), 2, 1))
    # grey levels are kept (nearest never blends)
    grey = rng.randint(0, 256, (16, 16)).astype(np.uint8)
    warped = geo.warp_mask(grey, geo.scale_matrix(0.7, 1.3), (21, 11))
    assert set(np.unique(warped)) <= set(np.unique(grey))


def test_update_geometry_composes_and_keeps_invalid():
    results = dict(
        gt_bboxes=np.array([[2., 2., 6., 6.], [8., 0., 10., 2.]], np.float32),
        gt_parts=np.array([[3., 3., 1.], [9., 1., 1.]], np.float32),
        part_flip_pairs=[(0, 1)],
        trans_mat=np.eye(3))
    geo.update_geometry(results, geo.translate_matrix(0, 0), (10, 8))
    # second box lies right of the 8-pixel-wide image: kept, marked invalid
    assert results['gt_bboxes'].shape == (2, 4)
    assert results['gt_bboxes_valid'].tolist() == [True, False]
    assert results['gt_parts'][1].tolist() == [0, 0, 0]
    geo.update_geometry(results, geo.scale_matrix(10, 10), (100, 80))
    # once invalid, always invalid (even if the box regains area)
    assert results['gt_bboxes_valid'].tolist() == [True, False]
    assert results['gt_bboxes'].dtype == np.float32
    assert results['img_shape'] == (100, 80)
    np.testing.assert_allclose(results['trans_mat'], geo.scale_matrix(10, 10))
    # a horizontal flip (negative determinant) swaps the pair
    geo.update_geometry(results, geo.flip_matrix('horizontal', (100, 80)),
                        (100, 80))
    np.testing.assert_allclose(results['gt_parts'],
                               [[0, 0, 0], [50., 30., 1.]])
    # clip=False keeps the mapped coordinates but still marks validity
    res = dict(gt_bboxes=np.array([[-4., 1., 3., 3.]], np.float32))
    geo.update_geometry(res, np.eye(3), (5, 5), clip=False)
    np.testing.assert_allclose(res['gt_bboxes'], [[-4., 1., 3., 3.]])
    assert res['gt_bboxes_valid'].tolist() == [True]


@settings(max_examples=30, deadline=None)
@given(
    sx=st.floats(0.1, 5),
    sy=st.floats(0.1, 5),
    tx=st.floats(-50, 50),
    ty=st.floats(-50, 50),
    direction=st.sampled_from([None, 'horizontal', 'vertical', 'diagonal']))
def test_map_to_original_inverts_trans_mat(sx, sy, tx, ty, direction):
    mat = geo.translate_matrix(tx, ty) @ geo.scale_matrix(sx, sy)
    if direction:
        mat = geo.flip_matrix(direction, (40, 60)) @ mat
    rng = np.random.RandomState(1)
    pts = rng.rand(5, 2) * 100
    xs = np.sort(rng.rand(4, 2) * 100, axis=1)
    ys = np.sort(rng.rand(4, 2) * 100, axis=1)
    boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
    np.testing.assert_allclose(
        geo.map_to_original(geo.apply_affine_to_points(pts, mat), mat),
        pts,
        atol=1e-6)
    np.testing.assert_allclose(
        geo.map_to_original(geo.apply_affine_to_boxes(boxes, mat), mat),
        boxes,
        atol=1e-6)
    parts = np.concatenate([pts, np.ones((5, 1))], 1)
    parts[2] = 0
    mapped = parts.copy()
    mapped[parts[:, 2] > 0, :2] = geo.apply_affine_to_points(
        pts[parts[:, 2] > 0], mat)
    back = geo.map_to_original(mapped, mat)
    np.testing.assert_allclose(back, parts, atol=1e-6)
    # torch in -> torch out, same dtype
    back_t = geo.map_to_original(
        torch.as_tensor(mapped, dtype=torch.float32), torch.as_tensor(mat))
    assert back_t.dtype == torch.float32
    np.testing.assert_allclose(back_t.numpy(), parts, atol=1e-3)


def test_map_to_original_unswaps_parts_and_rejects_bad_shapes():
    mat = geo.flip_matrix('horizontal', (10, 10))
    cur = np.array([[2., 5., 1.], [7., 5., 1.]])  # row 0 is now "left"
    back = geo.map_to_original(cur, mat, part_flip_pairs=[(0, 1)])
    np.testing.assert_allclose(back, [[3., 5., 1.], [8., 5., 1.]])
    with pytest.raises(ValueError, match='points'):
        geo.map_to_original(np.zeros((3, 5)), np.eye(3))

"""RandomSkew (Augmentor's perspective skew, ProtoPNet's augmentation): the
homography moves the corners as drawn, and the image, the mask, the parts,
the boxes and ``trans_mat`` stay aligned."""
import cv2
import numpy as np
import pytest

from mmfg.datasets.transforms import RandomSkew
from mmfg.datasets.transforms import geometry as geo
from mmfg.datasets.transforms import map_to_original


def test_apply_affine_handles_a_homography_like_opencv():
    rng = np.random.default_rng(0)
    src = np.array([[0, 0], [80, 0], [80, 60], [0, 60]], np.float32)
    dst = src + rng.uniform(-12, 12, src.shape).astype(np.float32)
    mat = cv2.getPerspectiveTransform(src, dst)
    pts = rng.uniform(0, 60, (20, 2))
    ref = cv2.perspectiveTransform(pts[None].astype(np.float64), mat)[0]
    np.testing.assert_allclose(geo.apply_affine(pts, mat), ref, atol=1e-9)
    np.testing.assert_allclose(geo.apply_affine(src, mat), dst, atol=1e-3)
    assert geo.is_affine(geo.scale_matrix(2, 3)) and not geo.is_affine(mat)


@pytest.mark.parametrize('skew_type', ['tilt', 'corner'])
def test_skew_corners_move_as_augmentor(skew_type):
    t = RandomSkew(prob=1., magnitude=0.2, skew_type=skew_type)
    h, w = 60, 80
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    np.random.seed(1)
    for _ in range(50):
        moved = t.skew_corners(h, w)
        delta = np.abs(moved - corners)
        assert 1 <= delta.max() <= np.ceil(0.2 * w)
        moved_corners = (delta.sum(1) > 0).sum()
        assert moved_corners == (2 if skew_type == 'tilt' else 1)
        # every move goes outwards (the image leans, it is not folded)
        centre = np.array([w / 2, h / 2])
        assert (np.linalg.norm(moved - centre, axis=1) >=
                np.linalg.norm(corners - centre, axis=1) - 1e-9).all()


@pytest.mark.parametrize('seed', range(6))
def test_image_mask_parts_boxes_stay_aligned(seed):
    h, w = 64, 96
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    y0, x0 = 20 + seed, 30 + 3 * seed  # a 6x6 bright square
    img[y0:y0 + 6, x0:x0 + 6] = 255
    mask[y0:y0 + 6, x0:x0 + 6] = 1
    centre = (x0 + 3., y0 + 3.)
    results = dict(
        img=img, gt_mask=mask,
        gt_parts=np.array([[centre[0], centre[1], 1.]], np.float32),
        gt_bboxes=np.array([[x0, y0, x0 + 6, y0 + 6]], np.float32))
    np.random.seed(seed)
    out = RandomSkew(prob=1., magnitude=0.2)(results)
    mat = out['trans_mat']
    assert not geo.is_affine(mat)
    # the bright square, the warped mask and the mapped part coincide
    ys, xs = np.nonzero(out['img'][..., 0] > 127)
    ym, xm = np.nonzero(out['gt_mask'])
    px, py = out['gt_parts'][0, :2]
    assert abs(xs.mean() - px) < 1. and abs(ys.mean() - py) < 1.
    assert abs(xm.mean() - px) < 1. and abs(ym.mean() - py) < 1.
    bx1, by1, bx2, by2 = out['gt_bboxes'][0]
    assert bx1 - 1 <= xs.min() and xs.max() <= bx2 + 1
    assert by1 - 1 <= ys.min() and ys.max() <= by2 + 1
    # trans_mat maps back to the original image
    back = map_to_original(out['gt_parts'][:, :2], mat)
    np.testing.assert_allclose(back[0], centre, atol=1e-3)


def test_prob_zero_and_bad_arguments():
    img = np.zeros((8, 8, 3), np.uint8)
    out = RandomSkew(prob=0.)(dict(img=img))
    assert 'trans_mat' not in out and out['img'] is img
    for kwargs in (dict(prob=2.), dict(magnitude=0.), dict(skew_type='x'),
                   dict(interpolation='area')):
        with pytest.raises(ValueError, match='RandomSkew'):
            RandomSkew(**kwargs)

"""Tests for mmfg.explain.prototypes (values against slow references)."""
import numpy as np
import pytest
import torch

from mmfg.explain.prototypes import (argmax_location, box_around,
                                     boxes_contain_points, high_activation_box,
                                     percentile_threshold, receptive_field_box,
                                     upsample_activation)


def _slow_crop(act: np.ndarray, percentile: float):
    """Row/column scan as in the official find_high_activation_crop."""
    thr = np.percentile(act, percentile)
    mask = act >= thr
    ys = [i for i in range(mask.shape[0]) if mask[i].any()]
    xs = [j for j in range(mask.shape[1]) if mask[:, j].any()]
    return xs[0], ys[0], xs[-1] + 1, ys[-1] + 1


def test_upsample_matches_opencv_bicubic_and_keeps_kind():
    cv2 = pytest.importorskip('cv2')
    rng = np.random.default_rng(0)
    act = rng.random((3, 2, 7, 5)).astype(np.float32)
    up = upsample_activation(act, (56, 40))
    assert isinstance(up, np.ndarray) and up.shape == (3, 2, 56, 40)
    ref = cv2.resize(act[1, 1], (40, 56), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_allclose(up[1, 1], ref, atol=1e-5)
    t = upsample_activation(torch.from_numpy(act[0, 0]), (56, 40), chunk=1)
    assert isinstance(t, torch.Tensor) and t.shape == (56, 40)
    np.testing.assert_allclose(t.numpy(), up[0, 0], atol=1e-6)


def test_percentile_and_high_activation_box_match_numpy():
    rng = np.random.default_rng(1)
    maps = rng.random((4, 3, 31, 29)).astype(np.float32)
    for q in (0., 50., 95., 99.3, 100.):
        thr = percentile_threshold(maps, q)
        ref = np.percentile(maps.reshape(4, 3, -1), q, axis=-1)
        np.testing.assert_allclose(thr, ref, rtol=1e-6, atol=1e-6)
    boxes = high_activation_box(torch.from_numpy(maps), 95)
    assert boxes.dtype == torch.int64 and boxes.shape == (4, 3, 4)
    for b in range(4):
        for p in range(3):
            assert tuple(boxes[b, p].tolist()) == _slow_crop(maps[b, p], 95)


def test_high_activation_box_of_a_blob():
    m = torch.zeros(20, 30)
    m[5:10, 10:17] = 1.0  # 35 of 600 pixels (5.8%): the 95th pct. is 1
    assert high_activation_box(m, 95).tolist() == [10, 5, 17, 10]
    m[5:9, 10:17] = 0.5  # now only one row is at the top
    assert high_activation_box(m, 99).tolist() == [10, 9, 17, 10]


@pytest.mark.parametrize('mode', ['nearest', 'bicubic', 'bilinear'])
def test_receptive_field_box_is_the_upsampled_support(mode):
    h, w, H, W = 4, 6, 32, 48
    ph = torch.tensor([0, 3, 2])
    pw = torch.tensor([5, 0, 2])
    boxes = receptive_field_box(ph, pw, (h, w), (H, W), 0.5, mode)
    for i in range(3):
        onehot = torch.zeros(h, w)
        onehot[ph[i], pw[i]] = 1.0
        up = upsample_activation(onehot, (H, W), mode=mode)
        keep = up >= 0.5 * up.max()
        ys, xs = torch.nonzero(keep, as_tuple=True)
        ref = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert boxes[i].tolist() == [int(v) for v in ref]
    if mode == 'nearest':  # exactly the grid cells
        assert boxes.tolist() == [[40, 0, 48, 8], [0, 24, 8, 32],
                                  [16, 16, 24, 24]]


def test_receptive_field_box_numpy_and_full_support():
    b = receptive_field_box(np.array([1]), np.array([1]), (7, 7), (224, 224),
                            threshold=0.0)
    assert isinstance(b, np.ndarray)
    x1, y1, x2, y2 = b[0]
    assert x1 < 32 and x2 > 64 and (x1, y1, x2, y2) == (y1, x1, y2, x2)


def test_argmax_box_and_containment_follow_evalprotopnet():
    maps = torch.zeros(2, 10, 12)
    maps[0, 3, 4] = 2.0
    maps[1, 9, 11] = 1.0
    maps[1, 0, 0] = 1.0  # tie: first in raster order wins
    loc = argmax_location(maps)
    assert loc.tolist() == [[4, 3], [0, 0]]
    box = box_around(loc, 2, (10, 12))
    assert box.tolist() == [[2, 1, 6, 5], [0, 0, 2, 2]]
    pts = torch.tensor([[6, 5], [7, 5], [2, 1], [1, 1]])
    inside = boxes_contain_points(box[:1], pts, inclusive=True)
    assert inside.tolist() == [[True, False, True, False]]
    half_open = boxes_contain_points(box[:1], pts, inclusive=False)
    assert half_open.tolist() == [[False, False, True, False]]

"""Box extraction of the WSOL protocol: vectorised sweep vs cv2 reference."""
import cv2
import numpy as np
import pytest
import torch

from mmfg.explain.localization import (box_iou_plus1, boxes_at_threshold,
                                       default_thresholds, gt_boxes_to_pixels,
                                       mask_iou, normalize_map, quantize_map,
                                       reference_sweep_boxes, sweep_boxes,
                                       sweep_ious, threshold_levels)

TAUS = default_thresholds()


def _canonical(boxes, index):
    """Rows sorted by (threshold, box): the set of boxes per threshold."""
    rows = np.concatenate([index[:, None], boxes], 1)
    return rows[np.lexsort(rows.T[::-1])]


def _maps(seed):
    rng = np.random.default_rng(seed)
    out = []
    for h, w in [(5, 7), (17, 13)]:  # noise: many contours, holes
        out.append(rng.random((h, w)).astype(np.float32))
    for h, w in [(40, 33)]:  # realistic: an upsampled coarse map
        coarse = rng.random((5, 4)).astype(np.float32)
        out.append(cv2.resize(coarse, (w, h),
                              interpolation=cv2.INTER_CUBIC))
    sparse = rng.random((20, 20)) < 0.45  # thin rings, isolated pixels
    out.append((sparse * rng.random((20, 20))).astype(np.float32))
    return out


@pytest.mark.parametrize('backend', ['torch', 'cv2'])
def test_sweep_identical_to_cv2_reference(backend):
    for m in _maps(0) + _maps(1)[:2]:
        q = quantize_map(normalize_map(m))
        rb, ri = reference_sweep_boxes(q, TAUS, False)
        vb, vi = sweep_boxes(q, TAUS, False, backend=backend)
        np.testing.assert_array_equal(vb, rb)
        np.testing.assert_array_equal(vi, ri)
        rb, ri = reference_sweep_boxes(q, TAUS, True)
        vb, vi = sweep_boxes(q, TAUS, True, backend=backend)
        np.testing.assert_array_equal(
            _canonical(vb, vi), _canonical(rb, ri))


@pytest.mark.parametrize('backend', ['torch', 'cv2'])
def test_sweep_ious_identical_to_reference(backend):
    rng = np.random.default_rng(3)
    ms = [
        cv2.resize(rng.random((5, 4)).astype(np.float32), (w, h),
                   interpolation=cv2.INTER_CUBIC)
        for h, w in [(40, 33), (48, 48)]
    ]
    qs = [quantize_map(normalize_map(m)) for m in ms]
    gts = [np.array([[3, 4, 20, 30], [25, 2, 32, 12]]),
           np.array([[10, 10, 40, 44]])]
    for multi in (False, True):
        got = sweep_ious(qs, gts, TAUS, multi, backend=backend)
        for q, g, row in zip(qs, gts, got):
            rb, ri = reference_sweep_boxes(q, TAUS, multi)
            iou = box_iou_plus1(torch.as_tensor(rb),
                                torch.as_tensor(g)).amax(1).numpy()
            ref = np.zeros(len(TAUS), np.float32)
            np.maximum.at(ref, ri, iou)
            np.testing.assert_array_equal(row, ref)


def test_hand_made_blobs_ring_and_ties():
    q = np.zeros((12, 14), np.uint8)
    q[1:4, 1:5] = 200  # 3x4 blob, contour area 2 * 3 = 6
    q[6:11, 6:12] = 250  # ring 5x6 with a 3x4 hole
    q[7:10, 7:11] = 0
    # largest contour: the ring's outer contour (area 4 * 5 = 20)
    box = boxes_at_threshold(q, 0.5)
    np.testing.assert_array_equal(box, [[6, 6, 12, 11]])
    # all contours: blob, ring outer and the hole (hole bbox grown by 1)
    boxes = boxes_at_threshold(q, 0.5, multi_contour=True)
    assert sorted(map(tuple, boxes.tolist())) == sorted(
        [(1, 1, 5, 4), (6, 6, 12, 11), (6, 6, 12, 11)])
    # above the blob's level only the ring remains
    boxes = boxes_at_threshold(q, 0.9, multi_contour=True)
    assert len(boxes) == 2
    # ties: equal single pixels -> OpenCV lists the last in raster order first
    t = np.zeros((6, 6), np.uint8)
    t[1, 1] = t[4, 3] = 255
    np.testing.assert_array_equal(boxes_at_threshold(t, 0.5), [[3, 4, 4, 5]])


def test_constant_and_empty_maps_give_zero_box():
    for m in (np.full((9, 9), 3.0), np.full((9, 9), np.nan)):
        norm = normalize_map(m)
        assert not norm.any()
        q = quantize_map(norm)
        boxes, idx = sweep_boxes(q, TAUS, True)
        assert len(boxes) == len(TAUS)
        assert not boxes.any()
        # the protocol's [0, 0, 0, 0] box is 1 pixel: IoU 1/16 with 4x4 GT
        iou = sweep_ious([q], [np.array([[0, 0, 3, 3]])], TAUS)[0]
        np.testing.assert_allclose(iou, 1 / 16)


def test_box_iou_plus1_and_gt_truncation():
    a = torch.tensor([[0, 0, 9, 9]])
    b = torch.tensor([[5, 5, 14, 14], [20, 20, 30, 30], [0, 0, 9, 9]])
    np.testing.assert_allclose(
        box_iou_plus1(a, b).numpy(), [[25 / 175, 0.0, 1.0]], rtol=1e-6)
    np.testing.assert_array_equal(
        gt_boxes_to_pixels(torch.tensor([[1.9, 2.2, 10.99, 5.0]])),
        [[1, 2, 10, 5]])
    assert mask_iou(np.eye(3), np.ones((3, 3))) == pytest.approx(1 / 3)


def test_normalize_map_resizes_bicubic_and_levels():
    m = np.arange(12, dtype=np.float32).reshape(3, 4)
    n = normalize_map(torch.from_numpy(m), (6, 8))
    ref = cv2.resize(m, (8, 6), interpolation=cv2.INTER_CUBIC)
    ref = (ref - ref.min()) / (ref - ref.min()).max()
    np.testing.assert_allclose(n, ref, atol=1e-6)
    assert n.min() == 0 and n.max() == 1
    np.testing.assert_array_equal(
        threshold_levels(255, [0.0, 0.001, 0.5, 0.999]), [0, 0, 127, 254])
    with pytest.raises(ValueError, match='expected a'):
        normalize_map(np.zeros((2, 3, 4)))

"""LocalizationMetric on hand-made maps and boxes with known answers."""
import json

import numpy as np
import pytest
import torch

from mmfg.evaluation.metrics.wsol import error_codes, pxap_from_histograms
from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError


def _rect(h, w, boxes_values):
    m = np.zeros((h, w), np.float32)
    for (x0, y0, x1, y1), v in boxes_values:
        m[y0:y1 + 1, x0:x1 + 1] = v
    return torch.from_numpy(m)


def _score(label, num=6):
    s = torch.linspace(0.9, 0.1, num)
    order = list(range(num))
    order.remove(label)
    order.insert(0, label)
    out = torch.empty(num)
    out[torch.tensor(order)] = s
    return out


def _samples():
    a = dict(  # exact box: cv2 box [4, 4, 12, 12] -> IoU 64 / 81
        loc_map=_rect(20, 20, [((4, 4, 11, 11), 1.0)]),
        gt_bboxes=torch.tensor([[4., 4., 11.5, 11.9]]),
        gt_label=torch.tensor([0]), pred_score=_score(0), img_shape=(20, 20))
    b = dict(  # two birds; the larger one wins the largest contour
        loc_map=_rect(30, 30, [((2, 2, 9, 9), 1.0), ((18, 18, 27, 27),
                                                     0.6)]),
        gt_bboxes=torch.tensor([[2., 2., 9., 9.], [18., 18., 27., 27.]]),
        gt_label=torch.tensor([1]), pred_score=_score(2),  # GT ranked 2nd
        img_shape=(30, 30))
    b['pred_score'][1], b['pred_score'][3] = 0.85, b['pred_score'][1]
    c = dict(  # wrong place
        loc_map=_rect(30, 30, [((20, 20, 27, 27), 1.0)]),
        gt_bboxes=torch.tensor([[0., 0., 7., 7.]]),
        gt_label=torch.tensor([0]), pred_score=_score(0), img_shape=(30, 30))
    d = dict(  # constant map -> [0, 0, 0, 0] box, IoU 1 / 100
        loc_map=torch.full((5, 5), 2.0),  # resized to img_shape
        gt_bboxes=torch.tensor([[0., 0., 9., 9.]]),
        gt_label=torch.tensor([2]), pred_score=_score(4), img_shape=(20, 20))
    return [a, b, c, d]


def _run(metric, samples):
    metric.process(None, samples[:2])
    metric.process(None, samples[2:])
    return metric.compute_metrics(metric.results)


def test_known_answers():
    metric = METRICS.build(
        dict(type='LocalizationMetric', threshold=0.5, topk=(1, 5),
             cam_curve_interval=0.01))
    out = _run(metric, _samples())
    assert out['MaxBoxAcc'] == pytest.approx(50)
    assert out['MaxBoxAccV2'] == pytest.approx(50)
    assert out['GTKnownLoc'] == pytest.approx(50)
    assert out['Top1Loc'] == pytest.approx(25)
    assert out['Top5Loc'] == pytest.approx(50)
    assert out['IoU@70'] == pytest.approx(50)
    assert out['IoU@30'] == pytest.approx(50)
    # per class: class 0 -> 1/2, class 1 -> 1/1, class 2 -> 0/1
    assert out['GTKnownLoc_class_mean'] == pytest.approx(50)
    # breakdown sums to 100 with Top-1 Loc
    assert out['error_cls'] == pytest.approx(50)
    assert out['error_loc'] == pytest.approx(25)
    total = out['Top1Loc'] + sum(
        out[f'error_{k}'] for k in ('cls', 'multi', 'part', 'more', 'loc'))
    assert total == pytest.approx(100)
    # results are compact per image (DDP-reducible), never maps
    row = metric.results[0]
    assert set(row) == {'iou_largest', 'iou_all', 'codes', 'gt_label',
                        'rank'}
    assert row['iou_largest'].shape == (100, )
    np.testing.assert_allclose(row['iou_largest'], 64 / 81, rtol=1e-6)
    np.testing.assert_allclose(metric.results[3]['iou_largest'], 1 / 100)


def test_largest_vs_all_contours_on_multi_box_image():
    # the small bird has the higher score, the large one a lower plateau:
    # all contours find both birds, the largest contour the large one only
    s = _samples()[1]
    s['gt_bboxes'] = torch.tensor([[2., 2., 9., 9.]])  # only the small bird
    metric = METRICS.build(
        dict(type='LocalizationMetric', cam_curve_interval=0.01))
    metric.process(None, [s])
    row = metric.results[0]
    taus = metric.thresholds
    low = taus < 0.59  # both birds in the mask; the large one is largest
    assert (row['iou_largest'][low] == 0).all()
    np.testing.assert_allclose(row['iou_all'][low], 64 / 81, rtol=1e-6)
    np.testing.assert_allclose(row['iou_largest'][taus > 0.61], 64 / 81,
                               rtol=1e-6)


def test_error_codes_by_hand():
    gt = torch.tensor([[[0, 0, 9, 9], [0, 0, 0, 0]],
                       [[5, 5, 9, 9], [0, 0, 0, 0]],
                       [[0, 0, 9, 9], [20, 0, 29, 9]],
                       [[0, 0, 9, 9], [0, 0, 0, 0]],
                       [[0, 0, 9, 9], [0, 0, 0, 0]]])
    valid = torch.tensor([[1, 0], [1, 0], [1, 1], [1, 0], [1, 0]]).bool()
    boxes = torch.tensor([[[2, 2, 4, 4]], [[0, 0, 19, 19]], [[0, 0, 29, 9]],
                          [[40, 40, 50, 50]], [[0, 0, 9, 8]]])
    codes = error_codes(boxes, gt, valid)
    assert codes.flatten().tolist() == [2, 3, 1, 4, 0]


def test_pxap_known_answers():
    mask = torch.zeros(10, 10, dtype=torch.uint8)
    mask[2:6, 3:8] = 1
    perfect = dict(loc_map=mask.float(), gt_mask=mask,
                   gt_bboxes=torch.tensor([[3., 2., 7., 5.]]),
                   gt_label=torch.tensor([0]), img_shape=(10, 10))
    metric = METRICS.build(
        dict(type='LocalizationMetric', cam_curve_interval=0.01))
    metric.process(None, [perfect])
    assert metric.compute_metrics(metric.results)['PxAP'] == pytest.approx(
        100)
    # a constant map ranks nothing: AP = the positive fraction
    const = dict(perfect, loc_map=torch.ones(10, 10))
    metric.results.clear()
    metric.process(None, [const])
    assert metric.compute_metrics(metric.results)['PxAP'] == pytest.approx(
        20)
    assert np.isnan(pxap_from_histograms(np.zeros(4), np.ones(4)))
    # ignored pixels (value 255) count neither as positive nor negative
    ign = mask.clone()
    ign[0, :] = 255
    metric = METRICS.build(
        dict(type='LocalizationMetric', cam_curve_interval=0.01,
             mask_ignore_index=255))
    metric.process(None, [dict(const, gt_mask=ign)])
    assert metric.compute_metrics(metric.results)['PxAP'] == pytest.approx(
        100 * 20 / 90)


def test_threshold_chosen_on_val_reaches_test(tmp_path):
    path = str(tmp_path / 'wsol_threshold.json')
    samples = _samples()
    # make the oracle tau unique: image a is found only for tau < 0.3
    samples[0]['loc_map'] = _rect(20, 20, [((4, 4, 11, 11), 0.3),
                                           ((0, 15, 3, 19), 1.0)])
    val = METRICS.build(
        dict(type='LocalizationMetric', threshold='oracle',
             cam_curve_interval=0.01, save_threshold=path))
    out = _run(val, samples)
    with open(path) as f:
        saved = json.load(f)
    assert saved['threshold'] == pytest.approx(out['oracle_threshold'])
    test = METRICS.build(
        dict(type='LocalizationMetric', threshold=path,
             cam_curve_interval=0.01))
    out2 = _run(test, samples)
    assert out2['threshold'] == pytest.approx(saved['threshold'])
    assert out2['GTKnownLoc'] == pytest.approx(out['MaxBoxAcc'])
    late = METRICS.build(
        dict(type='LocalizationMetric', threshold=0.5,
             cam_curve_interval=0.01))
    assert _run(late, samples)['GTKnownLoc'] < out2['GTKnownLoc']


def test_bad_input_is_explained(tmp_path):
    with pytest.raises(ConfigError, match='must be a float'):
        METRICS.build(dict(type='LocalizationMetric', threshold='best'))
    with pytest.raises(ConfigError, match='outside'):
        METRICS.build(dict(type='LocalizationMetric', threshold=1.5))
    metric = METRICS.build(dict(type='LocalizationMetric'))
    with pytest.raises(KeyError, match='loc_map'):
        metric.process(None, [dict(gt_label=torch.tensor([0]))])
    missing = str(tmp_path / 'none.json')
    metric = METRICS.build(
        dict(type='LocalizationMetric', threshold=missing,
             cam_curve_interval=0.01))
    metric.process(None, _samples()[:1])
    with pytest.raises(FileNotFoundError, match='save_threshold'):
        metric.compute_metrics(metric.results)

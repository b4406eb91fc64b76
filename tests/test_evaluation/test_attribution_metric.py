"""AttributionMetric and AttributionClassifier (built from config dicts)."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.explain.attribution import insertion_deletion, logits_fn
from mmfg.registry import METRICS, MODELS


def test_metric_values_by_hand():
    metric = METRICS.build(dict(type='AttributionMetric', upto=0.5))
    amap = torch.zeros(8, 8)
    amap[1, 1] = 3.
    amap[6, 6] = 1.
    samples = [
        dict(attr_map=amap, ins_curve=torch.tensor([0., 1., 1.]),
             del_curve=torch.tensor([1., 0., 0.]),
             gt_bboxes=torch.tensor([[0., 0., 4., 4.]])),
        dict(attr_map=amap, ins_curve=torch.tensor([0., 0., 1.]),
             del_curve=torch.tensor([1., 1., 0.]),
             gt_bboxes=torch.tensor([[5., 5., 8., 8.]])),
    ]
    metric.process(None, samples)
    res = metric.evaluate(2)
    assert res['attr/insertion_auc'] == pytest.approx((0.75 + 0.25) / 2)
    assert res['attr/deletion_auc'] == pytest.approx((0.25 + 0.75) / 2)
    assert res['attr/highest_conf'] == pytest.approx(0.5)
    assert res['attr/pointing_game'] == pytest.approx(50.)
    assert res['attr/mass_in_box'] == pytest.approx(100 * (0.75 + 0.25) / 2)


def test_metric_without_boxes_and_missing_fields():
    metric = METRICS.build(dict(type='AttributionMetric'))
    metric.process(None, [
        dict(attr_map=torch.rand(4, 4), ins_curve=torch.ones(5),
             del_curve=torch.zeros(5))
    ])
    res = metric.evaluate(1)
    assert 'attr/pointing_game' not in res
    assert res['attr/insertion_auc'] == pytest.approx(1.)
    with pytest.raises(KeyError, match='AttributionClassifier'):
        METRICS.build(dict(type='AttributionMetric')).process(
            None, [dict(attr_map=torch.rand(4, 4))])


def _model(explain_cfg):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='AttributionClassifier',
            backbone=dict(type='ResNet', depth=18, base_channels=8,
                          out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64),
            explain_cfg=explain_cfg)).eval()


def test_classifier_predict_attaches_scored_maps():
    model = _model(dict(method='gradcam', steps=6, target='gt'))
    x = torch.randn(2, 3, 32, 32)
    samples = [DataSample().set_gt_label(1), DataSample().set_gt_label(2)]
    with torch.no_grad():  # as in MMEngine's test loop
        out = model.predict(x, samples)
    ref = insertion_deletion(logits_fn(model), x, torch.tensor([1, 2]),
                             maps=torch.stack([s.attr_map for s in out]),
                             steps=6)
    for i, s in enumerate(out):
        assert s.attr_map.shape == (32, 32)
        assert s.attr_target == i + 1
        torch.testing.assert_close(s.ins_curve, ref['insertion'][i])
        torch.testing.assert_close(s.del_curve, ref['deletion'][i])
    smdl = _model(dict(method='smdl', steps=4, target='pred',
                       partition=dict(type='grid', patch=16)))
    with torch.no_grad():
        s = smdl.predict(x[:1])[0]
    assert s.ins_curve.shape == (5, )  # region order: 4 regions, 4 steps


def test_classifier_config_errors():
    from mmfg.utils.errors import ConfigError
    with pytest.raises(ConfigError, match='explain_cfg.method'):
        _model(dict(method='lime'))
    with pytest.raises(ConfigError, match='target'):
        _model(dict(method='gradcam', target='best'))

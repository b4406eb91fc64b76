"""TreeFidelity: known answers, the head's fields, evaluator use."""
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

import mmfg.evaluation  # noqa: F401 (registers)
from mmfg.registry import METRICS


def _sample(soft, sm, greedy, len_sm, len_gr, gt=None):
    ds = DataSample()
    ds.set_field(torch.tensor([soft, sm, greedy]), 'tree_pred_labels',
                 field_type='data')
    ds.set_field(torch.tensor([float(len_sm), float(len_gr)]),
                 'tree_path_lengths', field_type='data')
    if gt is not None:
        ds.set_gt_label(gt)
    return ds.to_dict()


def test_known_values():
    metric = METRICS.build(dict(type='TreeFidelity'))
    samples = [
        _sample(1, 1, 1, 9, 9, gt=1),
        _sample(2, 2, 0, 8, 7, gt=0),
        _sample(3, 0, 3, 9, 5, gt=3),
        _sample(0, 0, 0, 6, 7, gt=2),
    ]
    metric.process(None, samples)
    res = metric.evaluate(4)
    assert res['tree/fidelity_sample_max'] == pytest.approx(75.0)
    assert res['tree/fidelity_greedy'] == pytest.approx(75.0)
    assert res['tree/path_length_sample_max'] == pytest.approx(8.0)
    assert res['tree/path_length_greedy'] == pytest.approx(7.0)
    assert res['tree/accuracy_soft'] == pytest.approx(50.0)
    assert res['tree/accuracy_sample_max'] == pytest.approx(25.0)
    assert res['tree/accuracy_greedy'] == pytest.approx(75.0)


def test_without_ground_truth_and_prefix():
    metric = METRICS.build(dict(type='TreeFidelity', prefix='pt'))
    metric.process(None, [_sample(4, 4, 1, 3, 2), _sample(1, 2, 1, 2, 2)])
    res = metric.evaluate(2)
    assert res == {
        'pt/fidelity_sample_max': 50.0,
        'pt/fidelity_greedy': 50.0,
        'pt/path_length_sample_max': 2.5,
        'pt/path_length_greedy': 2.0,
    }


def test_missing_fields_are_reported():
    metric = METRICS.build(dict(type='TreeFidelity'))
    with pytest.raises(KeyError, match='ProtoTreeHead'):
        metric.process(None, [DataSample().set_gt_label(1).to_dict()])


def test_with_head_predictions_through_evaluator():
    """End to end with ProtoTreeHead.predict: greedy fidelity is 100 when
    the greedy leaf dominates the soft mixture (p_right far from 0.5)."""
    import mmfg.models  # noqa: F401
    from mmfg.registry import MODELS
    head = MODELS.build(
        dict(type='ProtoTreeHead', num_classes=3, in_channels=4, depth=2,
             proto_channels=4))
    head.leaf_params.copy_(torch.tensor([[9., 0, 0], [0, 9., 0], [0, 0, 9.],
                                         [9., 0, 0]]))
    x = torch.randn(6, 4, 2, 2)
    with torch.no_grad():
        # every prototype far from the latent patches (in [0, 1]^4):
        # p_right ~ exp(-9) everywhere
        head.prototypes.data[:] = 5.0
        preds = head.predict((x, ), [DataSample().set_gt_label(0)
                                     for _ in range(6)])
    with DefaultScope.overwrite_default_scope('mmfg'):
        evaluator = Evaluator([dict(type='TreeFidelity')])
    evaluator.process(preds)
    res = evaluator.evaluate(6)
    # all prototypes far: every image goes left, left -> leaf 0 (class 0)
    assert res['tree/path_length_greedy'] == 2.0
    assert res['tree/accuracy_greedy'] == 100.0
    assert res['tree/fidelity_greedy'] == 100.0
    assert res['tree/fidelity_sample_max'] == 100.0

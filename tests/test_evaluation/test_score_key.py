"""ScoreKeyMetric: an inner metric on an alternative score set."""
import pytest
import torch
from mmengine.evaluator import Evaluator


def _preds():
    gt = [0, 1, 2, 1]
    main = torch.eye(3)[[0, 1, 2, 1]]  # all right
    alt = torch.eye(3)[[0, 2, 2, 0]]  # 2 of 4 right
    return [
        dict(gt_label=torch.tensor([g]), pred_score=m, pred_zero=a)
        for g, m, a in zip(gt, main, alt)
    ]


def test_two_prefixes_in_one_evaluation():
    evaluator = Evaluator([
        dict(type='Accuracy', topk=(1, ), prefix='meta'),
        dict(type='ScoreKeyMetric', metric=dict(type='Accuracy', topk=(1, )),
             score_key='pred_zero', prefix='zero_meta'),
    ])
    preds = _preds()
    evaluator.process(preds[:2])
    evaluator.process(preds[2:])
    result = evaluator.evaluate(4)
    assert result == {'meta/top1': 100.0, 'zero_meta/top1': 50.0}
    assert torch.equal(preds[1]['pred_score'], torch.eye(3)[1])  # untouched


def test_missing_key_is_a_clear_error():
    evaluator = Evaluator(
        dict(type='ScoreKeyMetric', metric=dict(type='Accuracy'),
             score_key='pred_score_zero_meta', prefix='zero_meta'))
    with pytest.raises(KeyError, match='zero_meta_eval=True'):
        evaluator.process([dict(gt_label=torch.tensor([0]),
                                pred_score=torch.ones(3))])

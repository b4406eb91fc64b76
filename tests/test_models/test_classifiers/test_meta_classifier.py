"""MetaImageClassifier: meta from data samples into the backbone; scores
with and without meta in one prediction."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.registry import MODELS


def _model(meta_dims=dict(time=4, attributes=5), **kwargs):
    model = MODELS.build(
        dict(
            type='MetaImageClassifier',
            backbone=dict(
                type='MetaFormer', arch='tiny', img_size=32,
                meta_dims=meta_dims),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=96),
            **kwargs))
    model.init_weights()
    return model.eval()


def _samples(n=2, with_attr=True):
    samples = []
    for i in range(n):
        s = DataSample().set_gt_label(i % 3)
        s.set_field({'time': torch.full((4, ), float(i + 1))}, 'meta')
        if with_attr:
            s.set_field(torch.arange(5.) * (i + 1), 'attributes')
        samples.append(s)
    return samples


def test_meta_comes_from_meta_dict_and_fields():
    model = _model()
    samples = _samples()
    meta = model.gather_meta(samples, torch.device('cpu'))
    assert torch.equal(meta['time'], torch.tensor([[1.] * 4, [2.] * 4]))
    assert torch.equal(meta['attributes'],
                       torch.stack([torch.arange(5.),
                                    2 * torch.arange(5.)]))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        direct = model.head(model.backbone(x, meta=meta)).softmax(-1)
        scores = torch.stack(
            [s.pred_score for s in model.predict(x, samples)])
    assert torch.allclose(scores, direct, atol=1e-6)


def test_zero_meta_scores_in_the_same_prediction():
    model = _model(zero_meta_eval=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model.predict(x, _samples())
        zeros = dict(time=torch.zeros(2, 4), attributes=torch.zeros(2, 5))
        ref = model.head(model.backbone(x, meta=zeros)).softmax(-1)
    zero_scores = torch.stack([s.pred_score_zero_meta for s in out])
    assert torch.allclose(zero_scores, ref, atol=1e-6)
    assert not torch.allclose(zero_scores, torch.stack(
        [s.pred_score for s in out]))


def test_loss_and_missing_meta_error():
    model = _model().train()
    x = torch.randn(2, 3, 32, 32)
    losses = model.loss(x, _samples())
    losses['loss'].backward()
    assert model.backbone.meta_encoders[0]['attributes'].fc.weight.grad \
        .abs().sum() > 0
    with pytest.raises(KeyError, match='no meta "attributes"'):
        model.loss(x, _samples(with_attr=False))


def test_without_meta_it_is_an_image_classifier():
    model = _model(meta_dims=None, zero_meta_eval=True)
    assert model.meta_keys == []
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model.predict(x, _samples())
        ref = model.head(model.backbone(x)).softmax(-1)
    assert torch.allclose(out[1].pred_score, ref[1], atol=1e-6)
    assert 'pred_score_zero_meta' not in out[0]

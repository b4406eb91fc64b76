"""ImageNeckClassifier hands the input image to necks that take it."""
import torch

from mmfg.registry import MODELS


def _model(neck):
    return MODELS.build(dict(
        type='ImageNeckClassifier',
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(3, )),
        neck=neck,
        head=dict(type='LinearClsHead', num_classes=3, in_channels=64)))


def test_plain_neck_equals_image_classifier():
    torch.manual_seed(0)
    model = _model(dict(type='GlobalAveragePooling')).eval()
    ref = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3,
                  in_channels=64))).eval()
    ref.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for stage in ('backbone', 'neck', 'pre_logits'):
        a, b = model.extract_feat(x, stage), ref.extract_feat(x, stage)
        torch.testing.assert_close(a, b)


def test_gabor_neck_gets_the_image_and_trains():
    model = _model(dict(type='GaborTextureNeck', in_channels=64,
                        num_filters=8, kernel_size=7))
    from mmpretrain.structures import DataSample
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label(i) for i in (0, 2)]
    losses = model.loss(x, samples)
    losses['loss'].backward()
    assert model.neck.bank.raw_freq.grad.abs().sum() > 0
    model.eval()
    preds = model.predict(x)
    assert preds[0].pred_score.shape == (3, )

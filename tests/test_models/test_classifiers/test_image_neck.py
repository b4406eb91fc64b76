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


def test_rbi_aux_loss_is_the_weighted_head_loss_on_unfused_features():
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = _model(dict(type='RBINeck', in_channels=64, num_heads=4,
                        aux_weight=0.5))
    model.train()
    x = torch.randn(4, 3, 32, 32)
    samples = [DataSample().set_gt_label(i) for i in (0, 2, 1, 2)]
    losses = model.loss(x, samples)
    labels = torch.tensor([0, 2, 1, 2])
    feat = model.backbone(x)[-1].mean(dim=(2, 3))  # unfused pooled feature
    fused = model.neck(model.backbone(x), images=x)[-1]
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(losses['aux_loss'],
                               0.5 * ce(model.head.fc(feat), labels))
    torch.testing.assert_close(losses['loss'], ce(model.head.fc(fused),
                                                  labels))
    # test time: one fused feature, no auxiliary output
    model.eval()
    assert len(model.extract_feat(x)) == 1
    # without the option the loss has no auxiliary term
    plain = _model(dict(type='RBINeck', in_channels=64, num_heads=4))
    assert 'aux_loss' not in plain.train().loss(x, samples)

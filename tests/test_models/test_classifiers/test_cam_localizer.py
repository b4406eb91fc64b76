"""CAMLocalizer: CAMs of the GT / predicted class, centre-box baseline."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.models.classifiers.cam_localizer import centre_map
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError


def _cfg(**kw):
    cfg = dict(
        type='CAMLocalizer',
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      strides=(1, 2, 2, 1), out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=64))
    cfg.update(kw)
    return cfg


def _samples(labels):
    return [DataSample().set_gt_label(int(c)) for c in labels]


def test_cam_of_gt_and_predicted_class():
    torch.manual_seed(0)
    model = MODELS.build(_cfg()).eval()
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        out = model.predict(x, _samples([3, 1]))
        fmap = model.backbone(x)[-1]  # (2, 64, 3, 3): stride 16
        w = model.head.fc.weight
    assert fmap.shape[-2:] == (3, 3)
    for i, c in enumerate([3, 1]):
        ref = (w[c][:, None, None] * fmap[i]).sum(0)
        torch.testing.assert_close(out[i].loc_map, ref, rtol=1e-4,
                                   atol=1e-5)
    assert out[0].pred_score.shape == (5, )
    # the map is linear in the classifier: logits = mean of the CAM + bias
    torch.testing.assert_close(
        out[0].loc_map.mean() + model.head.fc.bias[3],
        torch.log(out[0].pred_score[3]) - torch.logsumexp(
            torch.log(out[0].pred_score), 0) + torch.logsumexp(
                model.head.fc(fmap.mean((2, 3)))[0], 0),
        rtol=1e-3, atol=1e-3)
    pred = MODELS.build(_cfg(cam_class='pred')).eval()
    pred.load_state_dict(model.state_dict())
    with torch.no_grad():
        outp = pred.predict(x, _samples([3, 1]))
    c = int(outp[0].pred_label)
    torch.testing.assert_close(
        outp[0].loc_map, (w[c][:, None, None] * fmap[0]).sum(0), rtol=1e-4,
        atol=1e-5)
    # without labels the GT mode falls back to the prediction
    with torch.no_grad():
        nolab = model.predict(x)
    torch.testing.assert_close(nolab[0].loc_map, outp[0].loc_map)


def test_centre_box_baseline_levels_are_centred_boxes():
    m = centre_map(8, 12)
    assert m.shape == (8, 12)
    top = (m == m.max()).nonzero()
    assert top[:, 0].tolist() == [3, 3, 4, 4]
    assert top[:, 1].tolist() == [5, 6, 5, 6]
    model = MODELS.build(_cfg(map_source='centre')).eval()
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 32, 40), _samples([0]))
    torch.testing.assert_close(out[0].loc_map, centre_map(32, 40))


def test_bad_configs_are_explained():
    with pytest.raises(ConfigError, match='GlobalAveragePooling'):
        MODELS.build(_cfg(neck=None))
    with pytest.raises(ConfigError, match='cam_class'):
        MODELS.build(_cfg(cam_class='top5'))
    with pytest.raises(ConfigError, match='map_source'):
        MODELS.build(_cfg(map_source='grad'))


def test_loss_mode_trains_like_a_classifier():
    model = MODELS.build(_cfg())
    losses = model.loss(torch.randn(2, 3, 32, 32), _samples([0, 4]))
    losses['loss'].backward()
    assert model.head.fc.weight.grad is not None

import math

import pytest
import torch
from mmengine.logging import MessageHub

from mmfg.models.selfsup.cmd import CMD, split_tokens
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

E, K = 32, 16


def _cfg(**kw):
    cfg = dict(
        type='CMD',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(embed_dims=E, num_layers=2, num_heads=2,
                      feedforward_channels=64),
            img_size=32, patch_size=8, out_type='raw', out_indices=(0, 1)),
        head=dict(type='DINOProjectionHead', in_channels=E, out_channels=K,
                  hidden_channels=32, bottleneck_channels=8),
        region_head=dict(type='DINOProjectionHead', in_channels=E,
                         out_channels=K, hidden_channels=32,
                         bottleneck_channels=8),
        mil_pooling=dict(type='AttentionMILPooling', in_channels=E,
                         hidden_channels=8),
        loss_image=dict(type='MultiCropDistillLoss', out_channels=K),
        loss_region=dict(type='MultiCropDistillLoss', out_channels=K,
                         region=True),
        base_momentum=0.1)
    cfg.update(kw)
    return cfg


def _views(B=2):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, 3, 32, 32, generator=g) for _ in range(2)] + \
        [torch.randn(B, 3, 16, 16, generator=g) for _ in range(3)]


@pytest.fixture
def model():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    return MODELS.build(_cfg())


def test_split_tokens():
    x = torch.arange(2 * 5 * 3.).view(2, 5, 3)
    img, reg = split_tokens((x, ), num_extra_tokens=1)
    assert torch.equal(img, x[:, 0]) and torch.equal(reg, x[:, 1:])
    fmap = torch.randn(2, 3, 2, 2)
    img, reg = split_tokens(fmap)
    assert reg.shape == (2, 4, 3)
    torch.testing.assert_close(img, fmap.mean((2, 3)))
    with pytest.raises(ValueError, match='region tokens'):
        split_tokens(torch.randn(2, 3))


def test_cmd_loss_backward_and_ema_formula(model):
    assert isinstance(model, CMD)
    losses = model.loss(_views(), None)
    assert set(losses) == {'loss_image', 'loss_region',
                           'loss_inter_teacher', 'loss_inter_student'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.cls_token.grad is not None
    assert model.mil_pooling.attention_w.weight.grad is not None
    # the first update copies the student into the teacher
    for (n, s), t in zip(model._student().named_parameters(),
                         model.teacher.module.parameters()):
        assert torch.equal(s, t), n
    # EMA step k=1 of max_iters=10: m = 0.1 * (cos(pi / 10) + 1) / 2
    old = {n: p.clone() for n, p in model.teacher.module.named_parameters()}
    with torch.no_grad():
        for p in model._student().parameters():
            p.add_(1.0)
    model.teacher.update_parameters(model._student())
    m = 0.1 * (math.cos(math.pi / 10) + 1) / 2
    src = dict(model._student().named_parameters())
    for n, p in model.teacher.module.named_parameters():
        torch.testing.assert_close(p, (1 - m) * old[n] + m * src[n])


def test_cmd_centres_updated_and_teacher_temp(model):
    model.teacher_temp = 0.04
    model.loss(_views(), None)
    assert model.loss_image.center.abs().sum() > 0
    assert model.loss_region.center.abs().sum() > 0


def test_cmd_extract_feat_last_blocks(model):
    x = torch.randn(2, 3, 32, 32)
    f1 = model.extract_feat(x)
    f2 = model.extract_feat(x, n_last_blocks=2)
    assert f1.shape == (2, E) and f2.shape == (2, 2 * E)
    torch.testing.assert_close(f2[:, E:], f1)
    assert CMD.accepts_n_last_blocks(model)
    with pytest.raises(ConfigError, match='out_indices'):
        model.extract_feat(x, n_last_blocks=3)


def test_cmd_extract_feat_pool(model):
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        tokens = model.teacher.module['backbone'](x)  # (B, 1 + 16, E) x 2
        cls = model.extract_feat(x, n_last_blocks=2)
        mean = model.extract_feat(x, n_last_blocks=2, pool='mean')
        both = model.extract_feat(x, n_last_blocks=2, pool='cls+mean')
    torch.testing.assert_close(cls, torch.cat([t[:, 0] for t in tokens], 1))
    torch.testing.assert_close(
        mean, torch.cat([t[:, 1:].mean(1) for t in tokens], 1))
    torch.testing.assert_close(
        both, torch.cat([tokens[0][:, 0], tokens[0][:, 1:].mean(1),
                         tokens[1][:, 0], tokens[1][:, 1:].mean(1)], 1))
    assert CMD.accepts_n_last_blocks(model, 'pool')
    with pytest.raises(ConfigError, match='pool'):
        model.extract_feat(x, pool='max')


def test_cmd_bad_inputs(model):
    with pytest.raises(ConfigError, match='MultiView'):
        model.loss(_views()[:2], None)
    with pytest.raises(ConfigError, match='region=True'):
        MODELS.build(_cfg(loss_region=dict(type='MultiCropDistillLoss',
                                           out_channels=K)))


def test_cmd_swin_backbone():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(_cfg(backbone=dict(
        type='SwinTransformer', arch=dict(embed_dims=16, depths=[2, 2],
                                          num_heads=[2, 4]),
        img_size=32, out_indices=(1, ), pad_small_map=True)))
    losses = model.loss(_views(), None)
    assert torch.isfinite(sum(losses.values()))


def test_cmd_resnet_map_backbone():
    """A CNN's last (B, C, H, W) map gives the regions (as in
    cmd_r18-c32_synthbirds.py); its features are the map's mean."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    c = 64  # ResNet-18 with base 8: 8-16-32-64
    cfg = _cfg(backbone=dict(type='ResNet', depth=18, stem_channels=8,
                             base_channels=8, strides=(1, 2, 2, 1),
                             out_indices=(3, )))
    for key in ('head', 'region_head', 'mil_pooling'):
        cfg[key]['in_channels'] = c
    model = MODELS.build(cfg)
    model.init_weights()
    losses = model.loss(_views(), None)
    assert set(losses) == {'loss_image', 'loss_region', 'loss_inter_teacher',
                           'loss_inter_student'}
    sum(losses.values()).backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    model.eval()
    x = _views()[0]
    fmap = model.teacher.module['backbone'](x)[-1]
    assert fmap.shape == (2, c, 2, 2)  # 32 px / 16 -> 2 x 2 regions
    feat = model.extract_feat(x, pool='mean')
    torch.testing.assert_close(feat, fmap.mean((2, 3)))
    torch.testing.assert_close(model.extract_feat(x, pool='cls'), feat)
    torch.testing.assert_close(
        model.extract_feat(x, pool='cls+mean'), torch.cat([feat, feat], 1))

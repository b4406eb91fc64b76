"""BAS localizer: the detached background branch (no gradient to the
backbone's last stage or the classifier, same value as the official deep
copy), prediction fields, and forward/backward of every backbone."""
import copy

import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.models.classifiers.bas import detached_call
from mmfg.models.heads.bas_head import select_class_maps
from mmfg.models.losses.wsol_losses import activation_map_constraint
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

R18 = dict(
    type='ResNet', depth=18, base_channels=8, strides=(1, 2, 1, 1))


def _bas(backbone=R18, c3=32, c4=64, tail_pool=2, num_classes=3, **kw):
    head = dict(
        type='BASHead',
        num_classes=num_classes,
        in_channels=c4,
        gen_in_channels=c3,
        hidden_channels=16,
        loss_amc=dict(type='ActivationMapConstraintLoss', overflow='none'))
    head.update(kw.pop('head', {}))
    model = MODELS.build(
        dict(
            type='BAS',
            backbone=backbone,
            head=head,
            tail_pool=tail_pool,
            **kw))
    model.init_weights()
    return model


def _samples(labels):
    return [DataSample().set_gt_label(lb) for lb in labels]


def test_background_branch_sends_no_gradient_to_layer4_or_classifier():
    torch.manual_seed(0)
    model = _bas()
    x = torch.randn(2, 3, 64, 64)
    losses = model(x, _samples([0, 2]), mode='loss')
    losses['loss_amc'].backward()
    for name, p in model.named_parameters():
        if name.startswith(('backbone.layer4', 'head.classifier')):
            assert p.grad is None, name
    gen = model.head.generator[0].weight.grad
    assert gen is not None and gen.abs().sum() > 0
    # the map's input (layer1-3) is trained through the generator
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.backbone.layer3.parameters())


def test_functional_call_matches_the_official_deep_copy():
    torch.manual_seed(1)
    model = _bas()
    x = torch.randn(3, 3, 64, 64)
    target = torch.tensor([1, 0, 2])
    f3, f4 = model.extract_feat(x)
    maps = model.head.class_maps(f3)
    fg = select_class_maps(maps, target)
    scores = model.head.score_map(f4).mean((2, 3))
    s = scores[torch.arange(3), target]
    erased = f3.detach() * (1 - fg)
    running = model.backbone.layer4[0].bn1.running_mean.clone()
    ours = model.head.score_map(
        model.bg_tail(erased), detached=True).mean((2, 3))
    # background batch leaves the running statistics alone
    assert torch.equal(model.backbone.layer4[0].bn1.running_mean, running)
    # the official way: deep copies of layer4 and the classifier
    pool = torch.nn.MaxPool2d(2)
    layer4 = copy.deepcopy(model.backbone.layer4)
    cls = copy.deepcopy(model.head.classifier)
    ref = cls(layer4(pool(erased))).mean((2, 3))
    assert torch.allclose(ours, ref, atol=1e-5)
    s_bg, s_ref = ours[torch.arange(3), target], ref[torch.arange(3), target]
    g1 = torch.autograd.grad(
        activation_map_constraint(s_bg, s, overflow='none').mean(),
        model.head.generator[0].weight,
        retain_graph=True)[0]
    g2 = torch.autograd.grad(
        activation_map_constraint(s_ref, s, overflow='none').mean(),
        model.head.generator[0].weight)[0]
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-7)


def test_detached_call_keeps_gradient_to_input():
    conv = torch.nn.Conv2d(2, 2, 1)
    x = torch.randn(1, 2, 3, 3, requires_grad=True)
    y = detached_call([conv], x)
    assert torch.allclose(y, conv(x))
    y.sum().backward()
    assert x.grad is not None and conv.weight.grad is None


def test_predict_fields_topk_and_gt():
    torch.manual_seed(2)
    model = _bas(topk=2).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x, _samples([0, 1]), mode='predict')
        scores, maps, fused = model.localization_maps(x)
    for ds in out:
        assert ds.loc_map.shape == (64, 64)
        assert ds.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert 0 <= float(ds.loc_map.min()) <= float(ds.loc_map.max()) <= 1
    assert torch.equal(out[0].pred_label, scores[0].argmax().view(1))
    top2 = scores[1].topk(2).indices
    assert torch.allclose(fused[1], maps[1, top2].mean(0))
    gt_model = _bas(loc_map_from='gt').eval()
    gt_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        out = gt_model(x, _samples([2, 1]), mode='predict')
    small = torch.nn.functional.interpolate(
        out[0].loc_map[None, None], size=maps.shape[-2:], mode='area')
    # a bilinear upsample then area-downsample returns close to the map
    assert torch.corrcoef(
        torch.stack([small.flatten(), maps[0, 2].flatten()]))[0, 1] > 0.9


def test_multi_label_targets():
    model = _bas(head=dict(
        multi_label=True,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True)))
    samples = _samples([[0, 2], [1]])
    target, onehot = model._targets(samples, torch.device('cpu'))
    assert torch.equal(onehot, torch.tensor([[1., 0, 1], [0, 1, 0]]))
    assert target[0].item() in (0, 2) and target[1].item() == 1
    losses = model(torch.randn(2, 3, 64, 64), samples, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    with pytest.raises(ValueError, match='multi_label'):
        _bas()._targets(samples, torch.device('cpu'))


def test_bad_config():
    with pytest.raises(ConfigError, match='no split rule'):
        _bas(backbone=dict(type='LeNet5'))
    with pytest.raises(ConfigError, match='loc_map_from'):
        _bas(loc_map_from='box')


BACKBONES = {
    'resnet50': (dict(
        type='ResNet', depth=50, base_channels=8, strides=(1, 2, 1, 1)),
                 128, 256, 2, 64, (8, 8), (4, 4)),
    'vgg16': (dict(type='VGG', depth=16), 512, 512, 1, 64, (8, 8), (4, 4)),
    'inceptionv3': (dict(type='InceptionV3WSOL'), 768, 2048, 1, 80, (7, 7),
                    (3, 3)),
    'mobilenetv1': (dict(type='MobileNetV1', widen_factor=0.25), 128, 256,
                    1, 64, (8, 8), (4, 4)),
}


@pytest.mark.parametrize('name', list(BACKBONES))
def test_backbone_forward_backward(name):
    torch.manual_seed(3)
    bb, c3, c4, pool, size, hw3, hw4 = BACKBONES[name]
    model = _bas(backbone=bb, c3=c3, c4=c4, tail_pool=pool, topk=2)
    x = torch.randn(2, 3, size, size)
    f3, f4 = model.extract_feat(x)
    assert f3.shape[-2:] == hw3 and f4.shape[-2:] == hw4
    losses = model(x, _samples([0, 2]), mode='loss')
    sum(losses.values()).backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)
    # the state dict holds the backbone once (no split copies)
    assert not [k for k in model.state_dict() if k.startswith('_')]
    model.eval()
    with torch.no_grad():
        out = model(x, _samples([0, 2]), mode='predict')
    assert out[0].loc_map.shape == (size, size)

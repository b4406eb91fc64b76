"""WSOL backbones: MobileNetV1 and InceptionV3WSOL (stride-8 Mixed_6e)."""
import pytest
import torch
from mmpretrain.models.backbones import InceptionV3

from mmfg.registry import MODELS


def test_mobilenet_v1_strides_and_channels():
    net = MODELS.build(
        dict(type='MobileNetV1', widen_factor=0.25, out_indices=(0, 11, 13)))
    outs = net(torch.randn(1, 3, 64, 64))
    # stem /2, block 11 (the BAS generator input) /8, last block /16
    assert [tuple(o.shape) for o in outs] == [(1, 8, 32, 32),
                                              (1, 128, 8, 8),
                                              (1, 256, 4, 4)]
    assert net.out_channels == (8, 128, 256)
    # 13 depthwise separable blocks: 1 + 2 * 13 convs, 14 depthwise-free
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 27
    assert sum(m.groups > 1 for m in convs) == 13
    with pytest.raises(ValueError, match='strides'):
        MODELS.build(dict(type='MobileNetV1', strides=(1, 2)))
    with pytest.raises(ValueError, match='out index'):
        MODELS.build(dict(type='MobileNetV1', out_indices=(14, )))


def test_inception_v3_wsol_loads_inception_weights():
    ref = InceptionV3(num_classes=5)
    net = MODELS.build(dict(type='InceptionV3WSOL'))
    ours = net.state_dict()
    theirs = ref.state_dict()
    # every parameter of ours exists in MMPretrain's InceptionV3, same shape
    assert all(theirs[k].shape == v.shape for k, v in ours.items())
    assert set(theirs) - set(ours) == {'fc.weight', 'fc.bias'}
    net.load_state_dict(
        {k: v
         for k, v in theirs.items() if not k.startswith('fc.')})
    x = torch.randn(1, 3, 96, 96)
    f6 = net.stem_to_mixed_6e(x)
    plain = MODELS.build(dict(type='InceptionV3WSOL', large_feature_map=False))
    # Mixed_6a at stride 1 doubles the Mixed_6e resolution
    assert f6.shape[-1] == 9
    assert plain.stem_to_mixed_6e(x).shape[-1] == 4
    assert net(x)[0].shape == (1, 2048, 4, 4)

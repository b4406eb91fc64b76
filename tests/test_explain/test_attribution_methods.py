"""Grad-CAM family, CAM and occlusion behind one interface."""
import numpy as np
import pytest
import torch
from torch import nn

from mmfg.explain.attribution import (attribute_batch, cam, grad_cam,
                                      grid_partition, labels_to_masks,
                                      occlusion)
from mmfg.utils.errors import ConfigError


class GapNet(nn.Module):
    """conv (fixed 1x1 weights) -> relu -> GAP -> fc, by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)
        self.conv.weight.data = torch.tensor([[1., 0., 0.], [0., 1., -1.]
                                              ]).view(2, 3, 1, 1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(2, 2, bias=False)
        self.fc.weight.data = torch.tensor([[2., -1.], [0.5, 3.]])

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).mean((2, 3)))


def _acts(x):
    a = torch.stack([x[:, 0], x[:, 1] - x[:, 2]], 1)
    return a.clamp(min=0)


def test_grad_cam_equals_hand_computation():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 4, 4) * 2 - 0.5
    model = GapNet()
    targets = torch.tensor([0, 1])
    maps = grad_cam(model, x, targets, layer='act', resize=False)
    a = _acts(x)
    w = model.fc.weight.data
    # d logit_c / d A_k(i, j) = W[c, k] / 16, so alpha_k = W[c, k] / 16
    expected = torch.einsum('bkhw,bk->bhw', a, w[targets] / 16).clamp(min=0)
    torch.testing.assert_close(maps, expected)
    # Grad-CAM++ with constant gradients g_k = W[c, k] / 16
    g = w[targets] / 16
    alpha = g**2 / (2 * g**2 + a.sum((2, 3)) * g**3)
    wpp = alpha * g.clamp(min=0) * 16  # summed over the 16 positions
    expected_pp = torch.einsum('bkhw,bk->bhw', a, wpp).clamp(min=0)
    torch.testing.assert_close(
        grad_cam(model, x, targets, layer='act', plus_plus=True,
                 resize=False), expected_pp)
    # resized to the input by default
    assert grad_cam(model, x, targets, layer='act').shape == (2, 4, 4)


def test_grad_cam_is_cam_over_hw_on_a_classifier():
    from mmpretrain.models import ImageClassifier
    torch.manual_seed(0)
    model = ImageClassifier(
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=64)).eval()
    x = torch.randn(2, 3, 64, 64)
    t = torch.tensor([2, 0])
    gc = grad_cam(model, x, t, layer='backbone.layer4', resize=False)
    maps = cam(model, x, t, resize=False)
    # layer4 is 2x2 here: Grad-CAM = relu(CAM) / 4
    assert gc.shape == (2, 2, 2)
    torch.testing.assert_close(gc, maps.clamp(min=0) / 4, rtol=1e-4,
                               atol=1e-6)
    full = attribute_batch(model, x, t, 'gradcam')['map']
    assert full.shape == (2, 64, 64)
    with pytest.raises(ConfigError, match='no module'):
        grad_cam(model, x, t, layer='backbone.layer9')


def test_occlusion_by_hand():

    class Corner(nn.Module):

        def forward(self, x):
            s = x[:, 0, :4, :4].mean((1, 2))
            return torch.stack([s, torch.zeros_like(s)], 1)

    x = torch.ones(1, 3, 8, 8)
    maps = occlusion(Corner(), x, torch.tensor([0]), patch=4, stride=4)
    drop = torch.sigmoid(torch.tensor(1.)) - 0.5
    expected = torch.zeros(1, 8, 8)
    expected[0, :4, :4] = drop
    torch.testing.assert_close(maps, expected)
    # overlapping windows (stride 2): the mean drop over covering windows
    maps2 = occlusion(Corner(), x, torch.tensor([0]), patch=4, stride=2)
    assert maps2[0, 0, 0] == pytest.approx(float(drop))
    assert maps2[0, 7, 7] == 0


def test_attribute_batch_smdl_with_user_masks_and_errors():
    model = GapNet()
    x = torch.rand(1, 3, 8, 8)
    masks = labels_to_masks(grid_partition(8, 8, 4))
    out = attribute_batch(model, x, torch.tensor([1]), 'smdl',
                          partition=dict(type='masks'), masks=[masks])
    assert sorted(out['order'][0].tolist()) == [0, 1, 2, 3]
    assert out['map'].shape == (1, 8, 8)
    img = (np.random.default_rng(0).random((8, 8, 3)) * 255).astype(
        np.uint8)
    out = attribute_batch(model, x, torch.tensor([1]), 'smdl',
                          partition=dict(type='slic', n_segments=4),
                          image_rgb=[img], budget=2)
    assert out['order'][0].numel() == 2
    with pytest.raises(ConfigError, match='unknown attribution method'):
        attribute_batch(model, x, torch.tensor([0]), 'lime')
    with pytest.raises(ValueError, match='targets'):
        attribute_batch(model, x, torch.tensor([0, 1]), 'gradcam')
    with pytest.raises(ConfigError, match='needs masks'):
        attribute_batch(model, x, torch.tensor([0]), 'smdl',
                        partition=dict(type='masks'))

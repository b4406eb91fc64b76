from types import SimpleNamespace

import pytest
import torch
from mmengine.registry import init_default_scope
from torch import nn

from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError


class _Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, 2)


def _runner(model, epoch=0, it=0):
    return SimpleNamespace(model=model, epoch=epoch, iter=it)


def test_freeze_until_epoch():
    init_default_scope('mmfg')
    hook = HOOKS.build(
        dict(type='FreezeModulesHook', modules=['backbone'], until_epoch=2))
    model = _Model().train()
    runner = _runner(model)
    hook.before_train(runner)
    for epoch, frozen in [(0, True), (1, True), (2, False), (3, False)]:
        runner.epoch = epoch
        model.train()
        hook.before_train_epoch(runner)
        hook.before_train_iter(runner, 0)
        assert all(p.requires_grad != frozen
                   for p in model.backbone.parameters())
        assert all(p.requires_grad for p in model.head.parameters())
        assert model.backbone[1].training != frozen
    # frozen BN statistics do not move, gradients do not flow
    runner.epoch = 0
    hook.before_train_epoch(runner)
    mean0 = model.backbone[1].running_mean.clone()
    out = model.head(model.backbone(torch.randn(2, 3, 5, 5)).mean((2, 3)))
    out.sum().backward()
    assert torch.equal(mean0, model.backbone[1].running_mean)
    assert model.backbone[0].weight.grad is None
    assert model.head.weight.grad is not None


def test_freeze_until_iter_and_bad_path():
    init_default_scope('mmfg')
    hook = HOOKS.build(
        dict(type='FreezeModulesHook', modules='backbone.0', until_iter=3))
    model = _Model()
    runner = _runner(model)
    hook.before_train(runner)
    for it, frozen in [(0, True), (2, True), (3, False)]:
        runner.iter = it
        hook.before_train_iter(runner, it)
        assert model.backbone[0].weight.requires_grad != frozen
        assert model.backbone[1].weight.requires_grad
    bad = HOOKS.build(dict(type='FreezeModulesHook', modules=['neck']))
    with pytest.raises(ConfigError, match='no submodule "neck"'):
        bad.before_train(_runner(model))
    with pytest.raises(ConfigError):
        HOOKS.build(
            dict(type='FreezeModulesHook', until_epoch=1, until_iter=1))


def test_freeze_weights_only_keeps_bn_statistics_moving():
    """``eval_mode=False`` (the official ProtoPNet warm-up): no gradient to
    the frozen weights, but BatchNorm still updates its running stats."""
    init_default_scope('mmfg')
    hook = HOOKS.build(
        dict(
            type='FreezeModulesHook',
            modules=['backbone'],
            until_epoch=1,
            eval_mode=False))
    model = _Model().train()
    runner = _runner(model)
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    hook.before_train_iter(runner, 0)
    assert model.backbone[1].training
    mean0 = model.backbone[1].running_mean.clone()
    x = torch.randn(4, 3, 5, 5) + 3.
    out = model.head(model.backbone(x).mean((2, 3)))
    out.sum().backward()
    conv = model.backbone[0](x).detach()
    expected = 0.9 * mean0 + 0.1 * conv.mean((0, 2, 3))
    torch.testing.assert_close(model.backbone[1].running_mean, expected)
    assert model.backbone[0].weight.grad is None
    assert model.backbone[1].weight.grad is None

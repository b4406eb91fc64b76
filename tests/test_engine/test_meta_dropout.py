"""MetaDropoutScheduleHook: p = 1 - epoch / max_epochs on every module with
meta dropout."""
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub
from torch import nn

from mmfg.engine.hooks.meta_dropout import meta_dropout_prob
from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError


class _WithMeta(nn.Module):

    def __init__(self):
        super().__init__()
        self.meta_drop_prob = 0.0


def _runner(model, max_epochs=4, max_iters=8):
    return SimpleNamespace(
        model=model, epoch=0, iter=0, max_epochs=max_epochs,
        max_iters=max_iters,
        message_hub=MessageHub.get_instance('test_meta_dropout'))


def test_linear_decay_per_epoch():
    model = nn.Sequential(_WithMeta(), nn.Linear(1, 1), _WithMeta())
    hook = HOOKS.build(dict(type='MetaDropoutScheduleHook'))
    runner = _runner(model)
    hook.before_train(runner)
    seen = []
    for epoch in range(4):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        seen.append((model[0].meta_drop_prob, model[2].meta_drop_prob))
    assert seen == [(1.0, 1.0), (0.75, 0.75), (0.5, 0.5), (0.25, 0.25)]
    assert runner.message_hub.get_scalar(
        'train/meta_drop_prob').current() == 0.25


def test_per_iteration_and_clipping():
    model = _WithMeta()
    hook = HOOKS.build(
        dict(type='MetaDropoutScheduleHook', start_prob=0.5, end_prob=0.1,
             by_epoch=False))
    runner = _runner(model)
    hook.before_train(runner)
    runner.iter = 4
    hook.before_train_epoch(runner)  # ignored when by_epoch=False
    assert model.meta_drop_prob == 0.0
    hook.before_train_iter(runner, 0)
    assert model.meta_drop_prob == pytest.approx(0.3)
    assert meta_dropout_prob(2.0, 1.0, 0.0) == 0.0


def test_errors():
    with pytest.raises(ConfigError, match='start_prob'):
        HOOKS.build(dict(type='MetaDropoutScheduleHook', start_prob=1.5))
    hook = HOOKS.build(dict(type='MetaDropoutScheduleHook'))
    with pytest.raises(ConfigError, match='meta_drop_prob'):
        hook.before_train(_runner(nn.Linear(1, 1)))

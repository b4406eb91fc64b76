from types import SimpleNamespace

import pytest
from torch import nn

from mmfg.engine.hooks import TeacherTempWarmupHook, teacher_temp_at
from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError


def test_teacher_temp_schedule_values():
    assert teacher_temp_at(0, 0.04, 0.07, 30) == pytest.approx(0.04)
    assert teacher_temp_at(15, 0.04, 0.07, 30) == pytest.approx(0.055)
    assert teacher_temp_at(30, 0.04, 0.07, 30) == pytest.approx(0.07)
    assert teacher_temp_at(99, 0.04, 0.07, 30) == pytest.approx(0.07)
    assert teacher_temp_at(0, 0.04, 0.07, 0) == pytest.approx(0.07)


def test_teacher_temp_hook_sets_model_attribute():
    model = nn.Module()
    model.teacher_temp = 0.07
    hook = HOOKS.build(dict(type='TeacherTempWarmupHook', start=0.04,
                            warmup_epochs=3))
    assert isinstance(hook, TeacherTempWarmupHook)
    runner = SimpleNamespace(model=model, epoch=0)
    hook.before_train(runner)
    seen = []
    for epoch in range(5):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        seen.append(model.teacher_temp)
    assert seen == pytest.approx([0.04, 0.05, 0.06, 0.07, 0.07])
    bad = TeacherTempWarmupHook(attr='tau')
    with pytest.raises(ConfigError, match='tau'):
        bad.before_train(runner)

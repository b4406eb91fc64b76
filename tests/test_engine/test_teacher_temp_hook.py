from types import SimpleNamespace

import numpy as np
import pytest
from torch import nn

from mmfg.engine.hooks import TeacherTempWarmupHook, teacher_temp_at
from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError


def test_teacher_temp_schedule_values():
    # numpy.linspace(0.04, 0.07, 30) as DINO / EsViT / CMD build it
    ref = np.linspace(0.04, 0.07, 30)
    for e in range(30):
        assert teacher_temp_at(e, 0.04, 0.07, 30) == pytest.approx(ref[e])
    assert teacher_temp_at(29, 0.04, 0.07, 30) == pytest.approx(0.07)
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
    assert seen == pytest.approx([0.04, 0.055, 0.07, 0.07, 0.07])
    bad = TeacherTempWarmupHook(attr='tau')
    with pytest.raises(ConfigError, match='tau'):
        bad.before_train(runner)

"""Teacher-temperature warm-up of self-distillation (DINO, CMD)."""
import operator
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError

__all__ = ['TeacherTempWarmupHook', 'teacher_temp_at']


def teacher_temp_at(epoch: int, start: float, end: float,
                    warmup_epochs: int) -> float:
    """DINO's per-epoch schedule ``linspace(start, end, warmup_epochs)``
    then ``end``: epoch ``e < W`` gets ``start + (end - start) * e / (W -
    1)``, so the last warm-up epoch ``W - 1`` already runs at ``end``."""
    if warmup_epochs <= 1 or epoch >= warmup_epochs - 1:
        return float(end)
    return float(start + (end - start) * epoch / (warmup_epochs - 1))


@HOOKS.register_module()
class TeacherTempWarmupHook(Hook):
    """Warm the teacher temperature up linearly, epoch by epoch.

    Sets ``<module>.<attr>`` of the model to :func:`teacher_temp_at` before
    every training epoch.

    Args:
        start (float): temperature of epoch 0. Defaults to 0.04.
        end (float, optional): temperature after the warm-up; None: the
            model's value when training starts. Defaults to None.
        warmup_epochs (int): Defaults to 30 (CMD / EsViT).
        module (str): dotted path of the module holding the attribute
            (``''``: the model). Defaults to ``''``.
        attr (str): Defaults to ``'teacher_temp'``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 start: float = 0.04,
                 end: Optional[float] = None,
                 warmup_epochs: int = 30,
                 module: str = '',
                 attr: str = 'teacher_temp') -> None:
        self.start = float(start)
        self.end = end
        self.warmup_epochs = int(warmup_epochs)
        self.module = module
        self.attr = attr

    def _target(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        try:
            target = operator.attrgetter(self.module)(model) \
                if self.module else model
            getattr(target, self.attr)
        except AttributeError as e:
            raise ConfigError(
                f'TeacherTempWarmupHook: the model has no '
                f'"{self.module + "." if self.module else ""}{self.attr}"; '
                'fix `module` / `attr` in the hook config.') from e
        return target

    def before_train(self, runner) -> None:
        """Remember the final temperature."""
        if self.end is None:
            self.end = float(getattr(self._target(runner), self.attr))

    def before_train_epoch(self, runner) -> None:
        """Set this epoch's temperature."""
        setattr(self._target(runner), self.attr,
                teacher_temp_at(runner.epoch, self.start, self.end,
                                self.warmup_epochs))

"""Linear decay of MetaFormer's meta dropout over training."""
from typing import List

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError

__all__ = ['MetaDropoutScheduleHook', 'meta_dropout_prob']


def meta_dropout_prob(progress: float, start: float, end: float) -> float:
    """Linear schedule ``start + (end - start) * progress``, clipped to
    ``[0, 1]`` (``progress`` = epoch / max_epochs, or iterations)."""
    progress = min(max(progress, 0.), 1.)
    return min(max(start + (end - start) * progress, 0.), 1.)


@HOOKS.register_module()
class MetaDropoutScheduleHook(Hook):
    """Set ``meta_drop_prob`` of every module that has one, decaying it
    linearly from ``start_prob`` at the start of training to ``end_prob``
    at its end (MetaFormer: ``p = 1 - epoch / max_epochs``).

    With ``by_epoch`` the value is set before each training epoch from
    ``epoch / max_epochs``; otherwise before each iteration from
    ``iter / max_iters``. The current value is logged as
    ``meta_drop_prob``.

    Args:
        start_prob (float): probability at the start. Defaults to 1.
        end_prob (float): probability reached at the end. Defaults to 0.
        by_epoch (bool): update per epoch (else per iteration). Defaults
            to True.

    Raises:
        ConfigError: no module of the model has ``meta_drop_prob`` (the
            backbone has no meta), found at the start of training.
    """

    priority = 'NORMAL'

    def __init__(self,
                 start_prob: float = 1.0,
                 end_prob: float = 0.0,
                 by_epoch: bool = True) -> None:
        for name, value in (('start_prob', start_prob), ('end_prob',
                                                         end_prob)):
            if not 0. <= value <= 1.:
                raise ConfigError(f'MetaDropoutScheduleHook: {name} must be '
                                  f'in [0, 1], got {value}.')
        self.start_prob = start_prob
        self.end_prob = end_prob
        self.by_epoch = by_epoch
        self._targets: List[nn.Module] = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._targets = [
            m for m in model.modules() if hasattr(m, 'meta_drop_prob')
        ]
        if not self._targets:
            raise ConfigError(
                'MetaDropoutScheduleHook: no module of the model has a '
                '`meta_drop_prob` attribute; use a backbone with meta (e.g. '
                'MetaFormer with meta_dims) or remove the hook.')

    def _set(self, runner, progress: float) -> None:
        p = meta_dropout_prob(progress, self.start_prob, self.end_prob)
        for module in self._targets:
            module.meta_drop_prob = p
        runner.message_hub.update_scalar('train/meta_drop_prob', p)

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch:
            self._set(runner, runner.epoch / max(runner.max_epochs, 1))

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if not self.by_epoch:
            self._set(runner, runner.iter / max(runner.max_iters, 1))

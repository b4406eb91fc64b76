from typing import List, Optional, Sequence, Union

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError


def get_submodule(model: nn.Module, path: str) -> nn.Module:
    """``model.get_submodule`` with an error that lists what exists."""
    try:
        return model.get_submodule(path)
    except AttributeError as e:
        top = [n for n, _ in model.named_children()]
        raise ConfigError(
            f'FreezeModulesHook: the model has no submodule "{path}". '
            f'Top-level submodules: {top}. Fix `modules` in the hook '
            'config.') from e


@HOOKS.register_module()
class FreezeModulesHook(Hook):
    """Freeze submodules for the first epochs (or iterations) of training.

    Frozen parameters get ``requires_grad=False`` (no gradient is computed,
    no optimiser update, no weight decay), and frozen modules are kept in
    ``eval()`` mode so BatchNorm statistics do not drift. At ``until_epoch``
    (or ``until_iter``) everything is unfrozen. Typical use: ProtoPNet's
    warm-up and ProtoTree's frozen backbone.

    Under DDP the wrapper must be built with ``find_unused_parameters=True``
    (set it in the config), because frozen parameters receive no gradient.

    Args:
        modules (str | Sequence[str]): dotted submodule paths of the model,
            e.g. ``['backbone']`` or ``['backbone.layer1', 'backbone.stem']``.
        until_epoch (int, optional): 0-based epoch from which the modules
            train again. ``None`` with ``until_iter=None`` keeps them frozen.
        until_iter (int, optional): the same, counted in iterations.
        eval_mode (bool): keep frozen modules in eval mode. Defaults to True.
    """

    priority = 'HIGH'

    def __init__(self,
                 modules: Union[str, Sequence[str]] = 'backbone',
                 until_epoch: Optional[int] = None,
                 until_iter: Optional[int] = None,
                 eval_mode: bool = True) -> None:
        self.modules: List[str] = [modules] if isinstance(
            modules, str) else list(modules)
        if until_epoch is not None and until_iter is not None:
            raise ConfigError('FreezeModulesHook: give until_epoch or '
                              'until_iter, not both.')
        self.until_epoch = until_epoch
        self.until_iter = until_iter
        self.eval_mode = eval_mode
        self._frozen = False

    def _model(self, runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _should_freeze(self, runner) -> bool:
        if self.until_epoch is not None:
            return runner.epoch < self.until_epoch
        if self.until_iter is not None:
            return runner.iter < self.until_iter
        return True

    def _set(self, runner, frozen: bool) -> None:
        model = self._model(runner)
        for path in self.modules:
            sub = get_submodule(model, path)
            for p in sub.parameters():
                p.requires_grad_(not frozen)
            if frozen and self.eval_mode:
                sub.eval()
        if frozen != self._frozen:
            print_log(
                f'{"Freezing" if frozen else "Unfreezing"} {self.modules} at '
                f'epoch {runner.epoch}, iter {runner.iter}',
                logger='current')
        self._frozen = frozen

    def before_train(self, runner) -> None:
        wrapper = runner.model
        if is_model_wrapper(wrapper) and hasattr(
                wrapper, 'find_unused_parameters') and \
                not wrapper.find_unused_parameters and \
                self._should_freeze(runner):
            raise ConfigError(
                'FreezeModulesHook under DDP needs '
                '`find_unused_parameters=True` in the config (frozen '
                'parameters get no gradient).')
        # validate paths early
        model = self._model(runner)
        for path in self.modules:
            get_submodule(model, path)

    def before_train_epoch(self, runner) -> None:
        self._set(runner, self._should_freeze(runner))

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        should = self._should_freeze(runner)
        if should != self._frozen:
            self._set(runner, should)
        elif should and self.eval_mode:
            # model.train() at the start of an epoch/after validation would
            # switch frozen BN layers back to train mode.
            model = self._model(runner)
            for path in self.modules:
                get_submodule(model, path).eval()

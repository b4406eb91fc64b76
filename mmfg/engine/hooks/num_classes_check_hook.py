from typing import Iterable, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError


def _dataset_classes(dataset) -> Optional[Iterable]:
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = meta.get('classes')
    if classes is None and hasattr(dataset, 'dataset'):  # wrappers
        return _dataset_classes(dataset.dataset)
    if classes is None and hasattr(dataset, 'datasets'):
        return _dataset_classes(dataset.datasets[0])
    return classes


@HOOKS.register_module()
class NumClassesCheckHook(Hook):
    """Stop before training/testing when the head's ``num_classes`` does not
    match the number of classes of the dataset, or when the train dataset
    is empty.

    Checks every submodule that has an integer ``num_classes`` attribute
    (classification heads, prototype heads...) against the ``classes`` of
    the train/val/test datasets.
    """

    priority = 'VERY_HIGH'

    def _check(self, runner, loader, split: str) -> None:
        if loader is None:
            return
        dataset = loader.dataset if hasattr(loader, 'dataset') else None
        if dataset is None:
            return
        if split == 'train' and len(dataset) == 0:
            # otherwise: ZeroDivisionError inside the sampler at the first
            # iteration, naming nothing
            raise ConfigError(
                f'The train dataset ({type(dataset).__name__}) holds no '
                'image: check `train_dataloader.dataset` (data_root, split, '
                'indices, class_split, ann_file); its log warning says '
                'which selection came out empty.')
        classes = _dataset_classes(dataset)
        if classes is None:
            return
        n_data = len(classes)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        for name, module in model.named_modules():
            n = getattr(module, 'num_classes', None)
            if isinstance(n, int) and not isinstance(n, bool) and n > 0 \
                    and n != n_data:
                raise ConfigError(
                    f'model.{name or "<model>"}.num_classes = {n}, but the '
                    f'{split} dataset ({type(dataset).__name__}) has {n_data} '
                    f'classes. Set `model.{name}.num_classes={n_data}` in '
                    'the config (or fix the dataset).')

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test')

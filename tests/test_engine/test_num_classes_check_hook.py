"""NumClassesCheckHook stops a run whose head disagrees with the data, or
whose train dataset is empty, before the first iteration."""
from types import SimpleNamespace

import pytest
from torch import nn

from mmfg.engine.hooks import NumClassesCheckHook
from mmfg.utils.errors import ConfigError


class _Data:

    def __init__(self, n_images: int, classes=('a', 'b', 'c')):
        self.n_images = n_images
        self.metainfo = dict(classes=classes)

    def __len__(self):
        return self.n_images


def _runner(num_classes: int, train=None, val=None):
    model = nn.Module()
    model.head = nn.Module()
    model.head.num_classes = num_classes
    loader = (lambda d: SimpleNamespace(dataset=d) if d is not None else None)
    return SimpleNamespace(
        model=model, train_dataloader=loader(train),
        val_dataloader=loader(val), test_dataloader=None)


def test_matching_head_passes():
    hook = NumClassesCheckHook()
    hook.before_train(_runner(3, train=_Data(5)))
    hook.before_val(_runner(3, val=_Data(0)))  # an empty val set is allowed
    hook.before_test(_runner(3))


def test_mismatch_names_the_key_and_the_value():
    hook = NumClassesCheckHook()
    with pytest.raises(ConfigError,
                       match=r'model\.head\.num_classes = 5, but the val '
                       r'dataset \(_Data\) has 3 classes.*'
                       r'model\.head\.num_classes=3'):
        hook.before_val(_runner(5, val=_Data(4)))


def test_empty_train_dataset_is_an_error():
    hook = NumClassesCheckHook()
    with pytest.raises(ConfigError, match='train dataset .* holds no image'):
        hook.before_train(_runner(3, train=_Data(0)))

"""No shipped config selects its checkpoint on the data it reports: when
the validation set is the test set (iNaturalist's official val split,
class-disjoint retrieval on the test classes...), ``save_best`` must be
off and the last checkpoint is the result."""
import os.path as osp

import pytest
from test_all_configs import CONFIGS, ROOT, load_or_skip

# the keys that decide which images a dataset holds (not how they look)
DATA_KEYS = ('type', 'data_root', 'ann_file', 'split', 'class_split',
             'val_ratio', 'val_seed', 'data_prefix', 'subset')


def _which_images(loader) -> tuple:
    ds = dict(loader['dataset'])
    while 'dataset' in ds:  # wrappers (RepeatDataset, ...)
        ds = dict(ds['dataset'])
    return tuple((k, repr(ds.get(k))) for k in DATA_KEYS)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_best_checkpoint_is_not_chosen_on_the_test_set(path):
    cfg = load_or_skip(path, import_custom_modules=False)
    val, test = cfg.get('val_dataloader'), cfg.get('test_dataloader')
    if not val or not test or not cfg.get('train_cfg'):
        return
    best = cfg.get('default_hooks', {}).get('checkpoint', {}).get(
        'save_best')
    if _which_images(val) == _which_images(test):
        assert best is None, (
            f'{path}: the validation data is the test data, so '
            f'save_best={best!r} would pick the checkpoint on the reported '
            'split; set default_hooks = dict(checkpoint=dict('
            'save_best=None)) and report the last checkpoint')


def _has_hook(cfg, names) -> bool:
    return any(h.get('type') in names for h in cfg.get('custom_hooks', []))


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_prototype_networks_keep_the_pushed_checkpoint(path):
    """A prototype network is interpretable only after its push / projection:
    a 'best' checkpoint chosen on val would be an earlier, unpushed one."""
    cfg = load_or_skip(path, import_custom_modules=False)
    if not cfg.get('train_cfg') or not _has_hook(
            cfg, ('PrototypePushHook', 'ProtoTreePruneProjectHook')):
        return
    best = cfg.get('default_hooks', {}).get('checkpoint', {}).get(
        'save_best')
    assert best is None, (
        f'{path}: save_best={best!r} can select a checkpoint from before '
        'the prototype push; set default_hooks = dict(checkpoint=dict('
        'save_best=None))')

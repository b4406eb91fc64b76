"""Every shipped config states the total batch its learning rates were set
for (``auto_scale_lr.base_batch_size``), so ``tools/train.py
--auto-scale-lr`` rescales them linearly on any number of GPUs."""
import os.path as osp

import pytest
from test_all_configs import CONFIGS, ROOT, load_or_skip


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_sets_auto_scale_lr_base_batch(path):
    cfg = load_or_skip(path, import_custom_modules=False)
    scale = cfg.get('auto_scale_lr')
    assert scale is not None and 'base_batch_size' in scale, (
        f'{path}: add `auto_scale_lr = dict(base_batch_size=<the paper\'s '
        'total batch>)` (or inherit it from a _base_ schedule)')
    base = scale['base_batch_size']
    assert isinstance(base, int) and base > 0, f'{path}: {base!r}'

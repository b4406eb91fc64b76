"""Every shipped config parses, resolves its types and builds its model
(weights are never loaded: `Pretrained` init is dropped)."""
import glob
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '/_base_/' not in p)


def load_or_skip(path: str, **kwargs) -> Config:
    """``Config.fromfile``; skips configs whose ``pkg::`` base (mmdet,
    mmseg) is not installed."""
    with open(path) as f:
        text = f.read()
    for pkg in ('mmdet', 'mmseg'):  # configs that inherit `pkg::` bases
        if f"'{pkg}::" in text and importlib.util.find_spec(pkg) is None:
            pytest.skip(f'{pkg} is not installed ({pkg}:: base)')
    return Config.fromfile(path, **kwargs)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_builds_model(path):
    from mmfg.apis.inference import drop_pretrained_init
    from mmfg.registry import MODELS
    from mmfg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = load_or_skip(path)
    assert 'model' in cfg
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            assert 'type' in cfg[key].dataset
    model_cfg = cfg.model.copy()
    drop_pretrained_init(model_cfg)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmfg')):
        model = MODELS.build(model_cfg)
    head = getattr(model, 'head', None)
    n = getattr(head, 'num_classes', None)
    pre = cfg.get('data_preprocessor') or {}
    if isinstance(n, int) and pre.get('num_classes'):
        assert n == pre['num_classes'], (
            f'{path}: head.num_classes={n} but data_preprocessor.num_classes'
            f'={pre["num_classes"]}')

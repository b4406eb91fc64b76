"""Helpers shared by ``tools/train.py``, ``tools/test.py`` and the APIs."""
import os.path as osp
import sys
from typing import Optional

from mmengine.config import Config

from mmfg.utils import register_all_modules, setup_distributed

_CHECK_HOOK = 'mmfg.NumClassesCheckHook'


def set_default_work_dir(cfg: Config, config_path: str,
                         work_dir: Optional[str]) -> None:
    """CLI ``--work-dir`` > config ``work_dir`` > ``./work_dirs/<name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def add_num_classes_check(cfg: Config) -> None:
    """Append :class:`NumClassesCheckHook` unless the config has it."""
    hooks = list(cfg.get('custom_hooks') or [])
    names = {str(h.get('type', '')).split('.')[-1] for h in hooks}
    if 'NumClassesCheckHook' not in names:
        hooks.append(dict(type=_CHECK_HOOK))
    cfg.custom_hooks = hooks


def _projects_importable(config_path: str) -> None:
    """Configs under ``projects/`` import their code as ``projects.<name>``
    (``custom_imports``): put the checkout that holds the config on
    ``sys.path`` so ``python tools/train.py projects/...`` works without
    ``PYTHONPATH=.``."""
    parts = osp.abspath(config_path).split(osp.sep)
    if 'projects' in parts:
        root = osp.sep.join(parts[:len(parts) - parts[::-1].index('projects')
                                  - 1])
        if root and root not in sys.path:
            sys.path.insert(0, root)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and apply ``--cfg-options`` overrides."""
    _projects_importable(path)
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_runner(cfg: Config):
    """Build the config's runner (``runner_type`` or MMEngine's Runner)."""
    if 'runner_type' not in cfg:
        from mmengine.runner import Runner
        return Runner.from_cfg(cfg)
    from mmfg.registry import RUNNERS
    return RUNNERS.build(cfg)


def prepare_runtime(cfg: Config, launcher: str) -> None:
    """Register modules without touching the config's default scope and
    set up CPU (gloo) distributed runs when there is no CUDA."""
    register_all_modules(init_default_scope=False)
    setup_distributed(cfg, launcher)

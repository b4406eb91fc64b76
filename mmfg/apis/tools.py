"""Helpers shared by ``tools/train.py``, ``tools/test.py`` and the APIs."""
import contextlib
import difflib
import glob
import os.path as osp
import re
import sys
from typing import Any, Iterator, Optional, Union

from mmengine.config import Config

from mmfg.utils import register_all_modules, setup_distributed
from mmfg.utils.errors import ConfigError

_CHECK_HOOK = 'mmfg.NumClassesCheckHook'


def set_default_work_dir(cfg: Config, config_path: str,
                         work_dir: Optional[str]) -> None:
    """CLI ``--work-dir`` > config ``work_dir`` > ``./work_dirs/<name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


#: placeholder for a run's own files in config paths (e.g. the WSOL tau a
#: val run writes and the test run reads)
WORK_DIR_PLACEHOLDER = '{work_dir}'


def fill_work_dir(cfg: Config, work_dir: str) -> None:
    """Replace ``{work_dir}`` in every string of the config by ``work_dir``.

    A path such as ``'{work_dir}/wsol_threshold.json'`` then follows
    ``--work-dir``. Training fills in the run's work dir; testing and
    :func:`mmfg.apis.init_model` fill in the folder of the checkpoint (the
    training run's work dir, where that run wrote the file).

    Args:
        cfg (Config): changed in place.
        work_dir (str): the folder.
    """

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return node.replace(WORK_DIR_PLACEHOLDER, work_dir)
        if isinstance(node, dict):
            for key in list(node):
                node[key] = fill(node[key])
            return node
        if isinstance(node, (list, tuple)):
            return type(node)(fill(v) for v in node)
        return node

    for key in list(cfg.keys()):
        if key != 'work_dir':
            cfg[key] = fill(cfg[key])


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


def _missing_config_error(path: str) -> ConfigError:
    """A missing config file, with the closest shipped config names."""
    checkout = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    found = set()
    for root in ('.', checkout):
        for pattern in ('configs/**/*.py', 'projects/*/configs/**/*.py'):
            found.update(
                osp.relpath(p) for p in glob.glob(
                    osp.join(root, pattern), recursive=True)
                if '_base_' not in p)
    by_name = {}
    for p in sorted(found):
        by_name.setdefault(osp.basename(p), p)
    close = difflib.get_close_matches(
        osp.basename(path), sorted(by_name), n=3, cutoff=0.6)
    hint = (' Did you mean ' + ', '.join(by_name[c] for c in close) + '?'
            if close else '')
    return ConfigError(
        f'Config file "{path}" does not exist (working directory '
        f'"{osp.abspath(".")}"). Give the path from the repository root, '
        f'e.g. configs/<method>/<name>.py.{hint}')


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and apply ``--cfg-options`` overrides.

    Raises:
        ConfigError: the file does not exist (the message lists the closest
            shipped config names).
    """
    if not osp.isfile(path):
        raise _missing_config_error(path)
    _projects_importable(path)
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_runner(cfg: Config) -> Any:
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


def _config_node(cfg: Union[Config, dict], dotted: str) -> dict:
    """The dict at ``dotted`` (``'model.head'``, list indices as numbers) of
    a config, or ``{}`` when the path does not lead to a dict."""
    node = cfg.to_dict() if isinstance(cfg, Config) else cfg
    for part in dotted.split('.') if dotted else []:
        if isinstance(node, list) and part.isdigit() and \
                int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return {}
    return node if isinstance(node, dict) else {}


@contextlib.contextmanager
def explain_override_errors(cfg: Config,
                            cfg_options: Optional[dict]) -> Iterator[None]:
    """Turn a ``--cfg-options`` typo into an error that names the option.

    MMEngine merges an unknown key silently; the component then fails deep
    in its registry with ``__init__() got an unexpected keyword argument``.
    When that argument was set by ``--cfg-options``, this re-raises a
    :class:`ConfigError` naming the option and the closest existing key of
    the same config dict.

    Args:
        cfg (Config): the merged config.
        cfg_options (dict, optional): the ``--cfg-options`` overrides.
    """
    try:
        yield
    except TypeError as e:
        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        keys = [
            k for k in (cfg_options or {})
            if m and k.split('.')[-1] == m.group(1)
        ]
        if not keys:
            raise
        key, name = keys[0], m.group(1)
        parent = key.rpartition('.')[0]
        siblings = [k for k in _config_node(cfg, parent) if k != name]
        close = difflib.get_close_matches(name, siblings, 1, 0.6)
        hint = f' Did you mean `{parent}.{close[0]}`?' if close else ''
        raise ConfigError(
            f'--cfg-options {key}=...: `{name}` is not an argument of '
            f'that component ({e}).{hint}') from e

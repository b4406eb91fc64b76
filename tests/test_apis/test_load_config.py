"""`load_config` makes a project's `custom_imports` importable from any
working directory (no PYTHONPATH needed)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmfg.apis.tools import explain_override_errors, load_config
from mmfg.utils.errors import ConfigError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_project_config_loads_from_another_directory(tmp_path):
    cfg = osp.join(ROOT, 'projects', 'attr_cvae', 'configs',
                   'attr-cvae_conv_synthbirds.py')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    code = ('from mmfg.apis.tools import load_config; '
            f'cfg = load_config({cfg!r}); '
            "import sys; assert 'projects.attr_cvae.attr_cvae' in "
            'sys.modules; print(cfg.model.type)')
    out = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1]


def test_missing_config_names_the_closest_shipped_ones():
    with pytest.raises(ConfigError) as info:
        load_config(osp.join('configs', 'baseline',
                             'resnet18_synthbird.py'))
    msg = str(info.value)
    assert 'resnet18_synthbird.py" does not exist' in msg
    assert 'configs/baseline/resnet18_synthbirds.py' in msg


def test_cfg_options_typo_names_the_option_and_the_fix():
    def head(num_classes, in_channels):
        return num_classes, in_channels

    cfg = Config(dict(model=dict(head=dict(num_classes=10, in_channels=8))))
    opts = {'model.head.num_clases': 5}
    cfg.merge_from_dict(opts)
    with pytest.raises(ConfigError) as info:
        with explain_override_errors(cfg, opts):
            head(**cfg.model.head)
    msg = str(info.value)
    assert msg.startswith('--cfg-options model.head.num_clases=...')
    assert 'Did you mean `model.head.num_classes`?' in msg
    # a TypeError that no option caused passes through unchanged
    with pytest.raises(TypeError, match='unexpected keyword'):
        with explain_override_errors(cfg, {'train_cfg.max_epochs': 1}):
            head(**cfg.model.head)

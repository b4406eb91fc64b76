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


def test_fill_work_dir_everywhere_but_work_dir():
    from mmfg.apis.tools import fill_work_dir
    cfg = Config(
        dict(
            work_dir='{work_dir}',
            thr='{work_dir}/tau.json',
            test_evaluator=[
                dict(type='LocalizationMetric',
                     threshold='{work_dir}/tau.json',
                     iou=(0.5, '{work_dir}/x'))
            ],
            n=3,
            other='work_dirs/keep.json'))
    fill_work_dir(cfg, '/runs/a')
    assert cfg.thr == '/runs/a/tau.json'
    assert cfg.test_evaluator[0].threshold == '/runs/a/tau.json'
    assert cfg.test_evaluator[0].iou == (0.5, '/runs/a/x')
    assert cfg.n == 3 and cfg.other == 'work_dirs/keep.json'
    assert cfg.work_dir == '{work_dir}'  # the key itself is set elsewhere


def test_init_model_reads_files_next_to_the_checkpoint(tmp_path):
    """``init_model`` fills ``{work_dir}`` with the checkpoint's folder, so
    ``localize`` uses the tau the training run saved there."""
    import json

    import torch

    from mmfg.apis import init_model
    from mmfg.apis.localization import default_threshold
    cfg = Config.fromfile(osp.join(ROOT, 'configs/cam/cam_r18_synthbirds.py'))
    cfg.model.backbone.base_channels = 8
    cfg.model.head.in_channels = 64
    model = init_model(cfg)
    run = tmp_path / 'run'
    run.mkdir()
    ckpt = str(run / 'epoch_1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    (run / 'wsol_threshold.json').write_text(json.dumps({'threshold': 0.37}))
    loaded = init_model(cfg, ckpt)
    assert default_threshold(loaded) == 0.37
    assert '{work_dir}' not in loaded.cfg.pretty_text

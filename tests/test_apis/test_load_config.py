"""`load_config` makes a project's `custom_imports` importable from any
working directory (no PYTHONPATH needed)."""
import os
import os.path as osp
import subprocess
import sys

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

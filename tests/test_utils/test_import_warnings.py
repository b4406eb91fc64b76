"""``import mmfg`` hides mmcv-lite's start-up warning about MMCV's compiled
deformable attention (no mmfg component uses it), and only that one."""
import subprocess
import sys


def _stderr(code: str) -> str:
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          check=True).stderr


def test_mmcv_lite_ops_warning_hidden_after_import_mmfg():
    code = ('import warnings; import mmfg; import mmpretrain.models; '
            "warnings.warn('still shown')")
    err = _stderr(code)
    assert 'MultiScaleDeformableAttention' not in err
    assert 'still shown' in err

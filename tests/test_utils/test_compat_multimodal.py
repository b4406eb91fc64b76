"""With transformers >= 5 and pycocotools (MMDetection) installed,
MMPretrain 1.2's multi-modal models cannot import; mmfg switches them off so
`import mmpretrain.models` keeps working."""
import subprocess
import sys

import pytest

from mmfg.utils.compat import _transformers_major

SIMULATE = ('import mmpretrain.utils.dependency as d; '
            'd.WITH_MULTIMODAL = True; ')  # as if pycocotools were installed


def _run(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True)


@pytest.mark.skipif(_transformers_major() < 5,
                    reason='needs transformers >= 5 installed')
def test_mmpretrain_models_import_after_mmfg():
    out = _run(SIMULATE + 'import mmfg; import mmpretrain.models; '
               'print(d.WITH_MULTIMODAL)')
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip().splitlines()[-1] == 'False'
    # the failure the shim prevents
    bare = _run(SIMULATE + 'import mmpretrain.models')
    assert bare.returncode != 0
    assert 'NoneType takes no arguments' in bare.stderr

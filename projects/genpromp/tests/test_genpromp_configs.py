"""Every GenPromp config loads and builds (or explains what it needs)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

pytest.importorskip('diffusers', reason='GenPromp needs diffusers')
pytest.importorskip('transformers', reason='GenPromp needs transformers')

CFG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')
CONFIGS = sorted(glob.glob(osp.join(CFG_DIR, '*.py')))


def test_configs_found():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'genpromp-stage1_tiny-sd_synthbirds.py',
            'genpromp-stage2_tiny-sd_synthbirds.py',
            'centre-box_tiny-sd_synthbirds.py',
            'genpromp-stage1_sd-v1-4_cub.py',
            'genpromp-stage2_sd-v1-4_cub.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path, tmp_path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmfg'
    assert cfg.custom_imports['imports'] == ['projects.genpromp.genpromp']
    import_modules_from_strings(cfg.custom_imports['imports'])
    assert cfg.model.type == 'GenPromp'
    evaluators = cfg.test_evaluator if isinstance(
        cfg.test_evaluator, list) else [cfg.test_evaluator]
    assert any(e['type'] == 'LocalizationMetric' for e in evaluators)
    if cfg.model.get('pretrained_model_path'):
        # the real model needs the local SD v1-4 folder: a clear error
        cfg.model.pretrained_model_path = str(tmp_path / 'missing-sd')
        with pytest.raises(ConfigError, match='pretrained_model_path'):
            MODELS.build(cfg.model)
        return
    model = MODELS.build(cfg.model)
    assert model.num_cross_attn == 7
    assert model.attn_resolutions == (8, 16)

import os.path as osp
import sys

import pytest
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
if ROOT not in sys.path:
    # `projects.genpromp` is imported from the repository root
    sys.path.insert(0, ROOT)

TINY_BASE = osp.join(ROOT, 'projects', 'genpromp', 'configs', '_base_',
                     'genpromp_tiny-sd.py')


@pytest.fixture(autouse=True)
def _mmfg_default_scope():
    """Every test starts in the mmfg scope."""
    init_default_scope('mmfg')
    yield


@pytest.fixture
def tiny_components():
    """The SynthBirds configs' tiny random Stable Diffusion, made smaller
    (64 px -> 16 x 16 latent, cross-attention at 16 x 16 and 8 x 8)."""
    from mmengine.config import Config
    comp = Config.fromfile(TINY_BASE).tiny_components.to_dict()
    comp['unet'].update(block_out_channels=(16, 32))
    comp['vae'].update(block_out_channels=(8, 16, 16))
    comp['text_encoder'].update(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1)
    comp['tokenizer'].update(model_max_length=12)
    return comp


@pytest.fixture
def tiny_genpromp(tiny_components):
    """``factory(**overrides)`` -> a tiny GenPromp with 3 classes."""
    pytest.importorskip('diffusers', reason='GenPromp needs diffusers')
    pytest.importorskip('transformers', reason='GenPromp needs transformers')
    import torch

    import projects.genpromp.genpromp  # noqa: F401
    from mmfg.registry import MODELS

    def factory(**overrides):
        torch.manual_seed(0)
        cfg = dict(
            type='GenPromp',
            num_classes=3,
            class_names=['001.Red_Conebill', '002.Blue_Hookbill',
                         '003.Green_Hookbill'],
            components=tiny_components,
            attn_resolutions=(8, 16))
        cfg.update(overrides)
        model = MODELS.build(cfg)
        model.init_weights()
        return model

    return factory

"""MMDetection / MMSegmentation interoperability (need full, compiled mmcv).

Run with ``pytest -m integration``; skipped with the reason when compiled
mmcv ops or the packages are missing (e.g. with mmcv-lite).
"""
import importlib
import importlib.metadata as md

import pytest
import torch

pytestmark = pytest.mark.integration


def _require(module: str):
    try:
        return importlib.import_module(module)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f'{module} not importable ({type(e).__name__}: {e}); '
                    'install full mmcv and the det/seg extras')


def test_full_mmcv_is_installed_not_lite():
    _require('mmcv.ops')
    names = {d.metadata['Name'].lower() for d in md.distributions()}
    assert 'mmcv' in names
    assert 'mmcv-lite' not in names, 'mmcv-lite would shadow compiled mmcv'


def test_mmseg_model_built_from_mmfg_scope():
    _require('mmcv.ops')
    _require('mmseg.models')
    from mmengine.registry import init_default_scope

    import mmfg.models  # noqa: F401
    from mmfg.registry import MODELS
    init_default_scope('mmfg')
    model = MODELS.build(
        dict(
            type='mmseg.EncoderDecoder',
            data_preprocessor=dict(type='mmseg.SegDataPreProcessor'),
            backbone=dict(
                type='mmpretrain.ResNet', depth=18, out_indices=(3, )),
            decode_head=dict(
                type='mmseg.FCNHead',
                in_channels=512,
                channels=32,
                num_convs=1,
                num_classes=3,
                in_index=0)))
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 3, 2, 2)


def test_mmdet_roi_ops_on_mmfg_boxes():
    """Boxes that mmfg datasets carry feed compiled mmcv RoIAlign."""
    ops = _require('mmcv.ops')
    _require('mmdet.models')
    feats = torch.arange(16.).view(1, 1, 4, 4)
    # a box covering the whole map in (batch, x1, y1, x2, y2) form
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = ops.roi_align(feats, rois, (1, 1), 1.0, 2, 'avg', True)
    assert torch.allclose(out.flatten(), feats.mean().view(1), atol=1e-5)

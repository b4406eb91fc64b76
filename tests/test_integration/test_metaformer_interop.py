"""MetaFormer as an MMSegmentation / MMDetection backbone (multi-scale
``out_type='featmap'`` outputs). Needs full mmcv with compiled ops and the
det/seg extras; skipped with the reason otherwise (e.g. with mmcv-lite)."""
import pytest
import torch

pytestmark = pytest.mark.integration

BACKBONE = dict(
    type='MetaFormer', arch='tiny', img_size=64, out_type='featmap',
    out_indices=(0, 1, 2, 3))
CHANNELS = [24, 32, 64, 96]


def _build(cfg):
    pytest.importorskip('mmcv.ops', reason='needs full mmcv (compiled ops)')
    from mmengine.registry import init_default_scope

    import mmfg.models  # noqa: F401
    from mmfg.registry import MODELS
    init_default_scope('mmfg')
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def test_metaformer_in_mmseg_upernet():
    pytest.importorskip('mmseg.models', reason='needs mmsegmentation')
    model = _build(
        dict(
            type='mmseg.EncoderDecoder',
            data_preprocessor=dict(type='mmseg.SegDataPreProcessor'),
            backbone=BACKBONE,
            decode_head=dict(
                type='mmseg.UPerHead',
                in_channels=CHANNELS,
                in_index=[0, 1, 2, 3],
                pool_scales=(1, 2),
                channels=16,
                num_classes=3)))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 96, 80), mode='tensor')
    assert out.shape == (1, 3, 24, 20)  # stride 4 of a non-square input


def test_metaformer_in_mmdet_retinanet():
    pytest.importorskip('mmdet.models', reason='needs mmdetection')
    model = _build(
        dict(
            type='mmdet.RetinaNet',
            data_preprocessor=dict(type='mmdet.DetDataPreprocessor'),
            backbone=dict(BACKBONE, out_indices=(1, 2, 3)),
            neck=dict(
                type='mmdet.FPN', in_channels=CHANNELS[1:], out_channels=16,
                start_level=0, add_extra_convs='on_input', num_outs=4),
            bbox_head=dict(
                type='mmdet.RetinaHead',
                num_classes=2,
                in_channels=16,
                feat_channels=16,
                stacked_convs=1,
                anchor_generator=dict(
                    type='mmdet.AnchorGenerator', octave_base_scale=4,
                    scales_per_octave=1, ratios=[1.0],
                    strides=[8, 16, 32, 64]),
                bbox_coder=dict(type='mmdet.DeltaXYWHBBoxCoder'),
                loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True),
                loss_bbox=dict(type='mmdet.L1Loss')),
            test_cfg=dict(nms_pre=10, score_thr=0.0, max_per_img=5,
                          nms=dict(type='nms', iou_threshold=0.5))))
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 128, 128))
    assert [tuple(f.shape[-2:]) for f in feats] == [(16, 16), (8, 8), (4, 4),
                                                    (2, 2)]

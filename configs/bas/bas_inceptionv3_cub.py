# BAS, Inception-V3, CUB-200-2011: Mixed_6a at stride 1 (InceptionV3WSOL),
# generator on Mixed_6e (25x25 at 224 px), Mixed_7a-7c as the last stage,
# (alpha, beta) = (0.5, 1), top-200 fused maps at test. The official code
# also changes the stem's paddings (28x28 / 14x14 maps); MMPretrain's
# stem is kept so its ImageNet weights load unchanged.
# Everything else as ./bas_r50_cub.py.
_base_ = ['./bas_r50_cub.py']

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/inception-v3_3rdparty_8xb32_in1k_20220615-dcd4d910.pth'  # noqa: E501
pretrained = None

model = dict(
    backbone=dict(
        _delete_=True,
        type='InceptionV3WSOL',
        large_feature_map=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    tail_pool=1,
    topk=200,
    head=dict(
        in_channels=2048,
        gen_in_channels=768,
        loss_fg=dict(loss_weight=0.5),
        loss_area=dict(loss_weight=1.0)),
)

# BAS, MobileNetV1, CUB-200-2011: generator on the 512-channel map after
# the 11th depthwise block (28x28), the last two blocks as the last stage
# (14x14), (alpha, beta) = (0.5, 1.9), top-80 fused maps at test.
# Everything else as ./bas_r50_cub.py.
#
# MMPretrain has no MobileNetV1 ImageNet checkpoint: convert one to the
# keys of mmfg's MobileNetV1 (`layers.{i}...`, BN after every conv) and set
# `pretrained` below.
_base_ = ['./bas_r50_cub.py']

pretrained = None

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV1',
        widen_factor=1.0,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    tail_pool=1,
    topk=80,
    head=dict(
        in_channels=1024,
        gen_in_channels=512,
        loss_fg=dict(loss_weight=0.5),
        loss_area=dict(loss_weight=1.9)),
)

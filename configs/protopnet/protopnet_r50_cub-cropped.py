# ProtoPNet, ResNet-50, on bounding-box-cropped CUB-200-2011.
# Everything else as ./protopnet_r34_cub-cropped.py.
_base_ = ['./protopnet_r34_cub-cropped.py']

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None

model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    head=dict(in_channels=2048))

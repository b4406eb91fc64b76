# ST-ProtoPNet, ResNet-50, CUB-200-2011 full images. As
# ./stprotopnet_r34_cub.py; the official code lowers the backbone rate to
# 1e-5 for ResNet-50.
_base_ = ['./stprotopnet_r34_cub.py']

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
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1 / 300)}))

# ProtoPNet, VGG-19, on full-image CUB-200-2011.
# Everything else as ./protopnet_r34_cub.py.
_base_ = ['./protopnet_r34_cub.py']

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/vgg19_batch256_imagenet_20210208-e6920e4a.pth'
pretrained = None

model = dict(
    backbone=dict(
        _delete_=True,
        type='VGG',
        depth=19,
        out_indices=(4, ),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    head=dict(in_channels=512))

# ST-ProtoPNet, VGG-19, CUB-200-2011 full images. As ./stprotopnet_r34_cub.py;
# no upsampling before the add-on for VGG (official).
_base_ = ['./stprotopnet_r34_cub.py']

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
    head=dict(in_channels=512, upsample_factor=1))

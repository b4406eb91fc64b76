# BAS, VGG16, CUB-200-2011: generator on conv4_3 (28x28), pool4 + conv5_x
# (14x14, no pool5) as the last stage, (alpha, beta) = (0, 0.9), the
# Activation Map Constraint set to 0 (not 1) where the background outscores
# the image (the official VGG code), top-80 fused maps at test.
# Everything else as ./bas_r50_cub.py.
_base_ = ['./bas_r50_cub.py']

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/vgg16_batch256_imagenet_20210208-db26f1a5.pth'
pretrained = None

model = dict(
    backbone=dict(
        _delete_=True,
        type='VGG',
        depth=16,
        num_stages=5,
        with_last_pool=False,
        out_indices=(4, ),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    tail_pool=1,
    topk=80,
    head=dict(
        in_channels=512,
        gen_in_channels=512,
        loss_fg=dict(loss_weight=0.0),
        loss_amc=dict(overflow='zero'),
        loss_area=dict(loss_weight=0.9)),
)

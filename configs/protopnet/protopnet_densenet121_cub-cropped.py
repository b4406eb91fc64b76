# ProtoPNet, DenseNet-121, on bounding-box-cropped CUB-200-2011 (reported 80.2%
# top-1).
# Everything else as ./protopnet_r34_cub-cropped.py.
_base_ = ['./protopnet_r34_cub-cropped.py']

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/densenet121_4xb256_in1k_20220426-07450f99.pth'
pretrained = None

model = dict(
    backbone=dict(
        _delete_=True,
        type='DenseNet',
        arch='121',
        out_indices=(3, ),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    head=dict(in_channels=1024))

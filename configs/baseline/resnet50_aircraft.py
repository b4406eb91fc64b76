_base_ = [
    '../_base_/datasets/aircraft_448.py',
    '../_base_/schedules/sgd_fgvc_100e.py',
    '../_base_/default_runtime.py',
]

# ImageNet-pretrained weights from a local file (nothing is downloaded):
# e.g. pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
)

# CAM (Zhou et al., CVPR 2016) with ResNet-50 on CUB-200-2011, evaluated with
# the WSOL protocol of Choe et al. (CVPR 2020, clovaai/wsolevaluation).
# Last stage stride 1 (14x14 maps at 224 px). Test: resize 256 + centre crop
# 224 with mmfg transforms, so the GT boxes follow the geometry (trans_mat).
# The val run (held-out part of the official train split) writes its
# MaxBoxAcc-optimal tau to `wsol_threshold`; the test run reads it.
_base_ = [
    '../_base_/datasets/cub_224.py',
    '../_base_/default_runtime.py',
]

# ImageNet-pretrained weights from a local file (nothing is downloaded):
# e.g. pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None
wsol_threshold = '{work_dir}/wsol_threshold.json'

model = dict(
    type='CAMLocalizer',
    cam_class='gt',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=200,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))

val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='LocalizationMetric', threshold='oracle',
         save_threshold=wsol_threshold),
]
test_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='LocalizationMetric', threshold=wsol_threshold),
]

# wsolevaluation's CUB recipe: SGD, batch 32, 50 epochs, 10x lr on the head
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=1.7e-4 * 10, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[15, 30, 45],
         gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

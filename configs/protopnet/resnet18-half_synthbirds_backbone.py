# Backbone for the SynthBirds prototype configs: the half-width ResNet-18 of
# protopnet_r18_synthbirds.py / stprotopnet_r18_synthbirds.py (last stage at
# stride 16, 256 channels) trained as a plain classifier, standing in for the
# ImageNet pretraining that ProtoPNet and ST-ProtoPNet start from. About a
# minute and a half on 2 CPU cores; writes
# work_dirs/resnet18-half_synthbirds_backbone/epoch_20.pth.
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        num_stages=4,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=256,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )),
)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(type='CheckpointHook', interval=20, max_keep_ckpts=1))

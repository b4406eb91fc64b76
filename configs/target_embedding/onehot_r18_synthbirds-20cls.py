# One-hot baseline for target embedding: LinearClsHead (cross-entropy) on a
# 20-class SynthBirds (generated into data/synthbirds-20cls on first use),
# a half-width ResNet-18 trained from scratch, 64 px, 20 epochs (CPU).
# targetembedding_r18_synthbirds-20cls.py changes only the head.
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/schedules/adam_synthbirds_30e.py',
    '../_base_/default_runtime.py',
]

num_classes = 20
data_root = 'data/synthbirds-20cls'
gen_cfg = dict(
    num_classes=num_classes, images_per_class=60, image_size=128, seed=0,
    difficulty='easy')
data_preprocessor = dict(num_classes=num_classes)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackFGInputs'),
]
_data = dict(data_root=data_root, gen_cfg=gen_cfg)
train_dataloader = dict(
    num_workers=1, dataset=dict(**_data, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(**_data, pipeline=test_pipeline))
test_dataloader = dict(
    num_workers=1, dataset=dict(**_data, pipeline=test_pipeline))

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        stem_channels=32,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=256,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )),
)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0,
         end=20),
]
train_cfg = dict(max_epochs=20, val_interval=10)
default_hooks = dict(logger=dict(interval=5))

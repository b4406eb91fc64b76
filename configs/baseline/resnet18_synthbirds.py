# Fast CPU baseline: a randomly initialised ResNet-18 on SynthBirds (the data
# is generated into data/synthbirds on first use). A few minutes on 2 cores.
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/schedules/adam_synthbirds_30e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )),
)
default_hooks = dict(logger=dict(interval=5))

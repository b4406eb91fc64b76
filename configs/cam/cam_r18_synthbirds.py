# CAM (Zhou et al., CVPR 2016) on SynthBirds, CPU in minutes: a randomly
# initialised ResNet-18 (base_channels 32, last stage stride 1 -> 7x7 maps at
# 112 px) trained as a plain classifier; predict() adds the GT-class CAM.
# The val run writes the MaxBoxAcc-optimal tau to `wsol_threshold`, the test
# run reads it (a tau chosen on val, not on test).
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/schedules/adam_synthbirds_30e.py',
    '../_base_/default_runtime.py',
]

wsol_threshold = '{work_dir}/wsol_threshold.json'

model = dict(
    type='CAMLocalizer',
    cam_class='gt',
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

# boxes and masks follow the test pipeline's geometry (PackFGInputs)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadMask', binarize_threshold=127),
    dict(type='Resize', scale=(112, 112)),
    dict(type='PackFGInputs'),
]
val_dataloader = dict(
    batch_size=32,
    dataset=dict(with_mask=True, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=32,
    dataset=dict(with_mask=True, pipeline=test_pipeline))

# cam_curve_interval 0.01 keeps the CPU sweep short (the protocol uses
# 0.001; pass --cfg-options to change it).
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(
        type='LocalizationMetric',
        threshold='oracle',
        cam_curve_interval=0.01,
        topk=(1, ),
        save_threshold=wsol_threshold),
]
test_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(
        type='LocalizationMetric',
        threshold=wsol_threshold,
        cam_curve_interval=0.01,
        topk=(1, )),
]

train_cfg = dict(max_epochs=20, val_interval=20)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0,
         end=20),
]
default_hooks = dict(logger=dict(interval=5))

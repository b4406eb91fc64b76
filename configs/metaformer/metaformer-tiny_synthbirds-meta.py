# MetaFormer-tiny on SynthBirds with informative location/date meta (the
# generator draws each class's observations around a class-specific place
# and season; gen_cfg with_meta=True). CPU, a few minutes. Test reports the
# accuracy with meta (meta/top1) and with zeroed meta (zero_meta/top1).
# The no-meta twin is metaformer-tiny_synthbirds-nometa.py.
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/default_runtime.py',
]

data_root = 'data/synthbirds_meta'
gen_cfg = dict(
    num_classes=10, images_per_class=60, image_size=128, seed=0,
    difficulty='easy', with_meta=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=112, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='SpatioTemporalMeta'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(112, 112)),
    dict(type='SpatioTemporalMeta'),
    dict(type='PackFGInputs'),
]
_data = dict(data_root=data_root, gen_cfg=gen_cfg, with_meta=True)
train_dataloader = dict(dataset=dict(**_data, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(**_data, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(**_data, pipeline=test_pipeline))

model = dict(
    type='MetaImageClassifier',
    zero_meta_eval=True,
    backbone=dict(
        type='MetaFormer',
        arch='tiny',
        img_size=112,
        meta_dims=dict(time=4, location=3),
        drop_path_rate=0.05),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=96,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1),
        topk=(1, )),
)

val_evaluator = [
    dict(type='Accuracy', topk=(1, ), prefix='meta'),
    dict(
        type='ScoreKeyMetric',
        metric=dict(type='Accuracy', topk=(1, )),
        score_key='pred_score_zero_meta',
        prefix='zero_meta'),
]
test_evaluator = val_evaluator

max_epochs = 30
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'cls_tokens': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 3, by_epoch=True,
         begin=3, end=max_epochs),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

# Meta dropout p = 1 - epoch / max_epochs (all meta of a random share of each
# batch zeroed), as in the paper.
custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='MetaDropoutScheduleHook', start_prob=1.0, end_prob=0.0),
]
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(save_best='meta/top1', rule='greater'))

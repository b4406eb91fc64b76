# MetaFormer-1 on CUB-200-2011 at 384 px with the 312 image-level attributes
# as meta (one meta token per attention stage). The attributes are read by
# the dataset (with_attributes=True) and packed as the `attributes` field;
# MetaImageClassifier passes them to the backbone (meta_keys=attributes).
# Pre-training: the official iNat21 MetaFormer-1 converted with
# tools/model_converters/metaformer_official2mmfg.py (--src-size 224
# --dst-size 384), path below.
_base_ = [
    '../_base_/datasets/cub_384.py',
    '../_base_/models/metaformer.py',
    '../_base_/schedules/adamw_metaformer_300e.py',
    '../_base_/default_runtime.py',
]

pretrained = None  # e.g. 'checkpoints/metaformer-1_inat21_384_mmfg.pth'

data_preprocessor = dict(batch_augments={{_base_.mix_augments}})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.rand_augment}},
    dict(type='PackFGInputs'),
]
train_dataloader = dict(
    dataset=dict(with_attributes=True, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(with_attributes=True))
test_dataloader = dict(dataset=dict(with_attributes=True))

model = dict(
    meta_keys=['attributes'],
    backbone=dict(
        arch='1',
        img_size=384,
        meta_dims=dict(attributes=312),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')
        if pretrained else None),
    head=dict(num_classes=200, in_channels=768))

val_evaluator = {{_base_.meta_evaluator}}
test_evaluator = val_evaluator
custom_hooks = {{_base_.meta_hooks}}
default_hooks = dict(checkpoint=dict(save_best='meta/top1', rule='greater'))

# MetaFormer-1 on NABirds at 384 px, image only (NABirds has no meta).
# Pre-training: official iNat21 MetaFormer-1, converted (224 -> 384).
_base_ = [
    '../_base_/datasets/nabirds_448.py',
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=438, edge='short'),
    dict(type='CenterCrop', crop_size=384),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# no meta_dims: MetaImageClassifier is a plain ImageClassifier here
model = dict(
    zero_meta_eval=False,
    backbone=dict(
        arch='1',
        img_size=384,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')
        if pretrained else None),
    head=dict(num_classes=555, in_channels=768))

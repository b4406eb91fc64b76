# MetaFormer-0 on iNaturalist 2021 at 224 px with location and date meta
# (latitude/longitude/date of the 2021 image entries). The 224 px iNat21
# models are the pre-training of the CUB/NABirds configs (convert and
# resize to 384 with tools/model_converters/metaformer_official2mmfg.py).
_base_ = ['./metaformer-2_inat18-meta_384.py']

data_root = 'data/inat2021'
data_preprocessor = dict(num_classes=10000)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.rand_augment}},
    dict(type='SpatioTemporalMeta'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='SpatioTemporalMeta'),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(
    batch_size=64,
    dataset=dict(
        data_root=data_root,
        ann_file='train.json',
        locations_file=None,
        pipeline=train_pipeline))
_val_data = dict(
    data_root=data_root,
    ann_file='val.json',
    locations_file=None,
    pipeline=test_pipeline)
val_dataloader = dict(batch_size=64, dataset=_val_data)
test_dataloader = dict(batch_size=64, dataset=_val_data)

model = dict(
    backbone=dict(arch='0', img_size=224),
    head=dict(num_classes=10000, in_channels=768))

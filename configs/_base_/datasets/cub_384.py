# CUB-200-2011 at 384 px (random resized crop; short edge 438, centre crop).
_base_ = ['./cub_448.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
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

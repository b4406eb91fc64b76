# The prototype networks' recipe at 224 px (resize to 224 x 224, horizontal
# flip; batch 64): fgvc_448.py with other pipelines. A dataset file inherits
# it and sets the dataset (see cub_224.py).
_base_ = ['./fgvc_448.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFGInputs'),
]

train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))

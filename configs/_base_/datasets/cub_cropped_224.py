# "Cropped CUB": each image cropped to its bounding box on the fly, 224 px
# (ProtoPNet-style papers): cub_224.py with a BBoxCrop after loading.
_base_ = ['./cub_224.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFGInputs'),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

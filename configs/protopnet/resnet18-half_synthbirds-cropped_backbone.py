# Backbone for protopnet_r18_synthbirds-cropped.py: the half-width ResNet-18
# classifier of resnet18-half_synthbirds_backbone.py trained on bounding-box
# crops ("cropped SynthBirds", as ProtoPNet trains on cropped CUB).
_base_ = ['./resnet18-half_synthbirds_backbone.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop', margin=0.1),
    dict(type='Resize', scale=(112, 112)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop', margin=0.1),
    dict(type='Resize', scale=(112, 112)),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# Fine-tune the tiny ViT pre-trained by cvemae_vit-tiny_synthbirds-cv.py on
# SynthBirds classification (ground images, 64 px; CPU). Same key mapping
# as the CUB config (prefix='backbone.').
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/schedules/adam_synthbirds_30e.py',
    '../_base_/default_runtime.py',
]

data_root = 'data/synthbirds_cross_view'
gen_cfg = dict(
    num_classes=10, images_per_class=60, image_size=64, seed=0,
    difficulty='easy', with_meta=True, with_overhead=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackFGInputs'),
]
_data = dict(data_root=data_root, gen_cfg=gen_cfg)
train_dataloader = dict(dataset=dict(**_data, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(**_data, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(**_data, pipeline=test_pipeline))

pretrained = 'work_dirs/cvemae_vit-tiny_synthbirds-cv/epoch_40.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=64, num_layers=4, num_heads=4,
            feedforward_channels=128),
        img_size=64,
        patch_size=8,
        out_type='cls_token',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
)

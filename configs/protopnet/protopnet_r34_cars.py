# ProtoPNet, ResNet-34, on Stanford Cars (196 classes, 224 px): 1960
# prototypes (10 per class), otherwise the CUB recipe of
# ./protopnet_r34_cub.py (the paper reports 91.4% for its combined model).
_base_ = [
    '../_base_/datasets/cars_224.py',
    '../_base_/default_runtime.py',
]

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/resnet34_8xb32_in1k_20210831-f257d4e6.pth'
pretrained = None

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=34,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    head=dict(
        type='ProtoPNetHead',
        num_classes=196,
        in_channels=512,
        prototypes_per_class=10,
        prototype_dim=128,
        add_on_type='regular',
        loss=dict(type='ProtoPNetLoss'),
        topk=(1, 5)),
)
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3e-3, weight_decay=1e-3),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=1 / 30),
            'head.layer.add_on': dict(lr_mult=1.0),
            'head.layer.prototypes': dict(lr_mult=1.0, decay_mult=0.0),
            'head.layer.last_layer': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='StepLR', by_epoch=True, begin=5, step_size=5, gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(
        type='Rotate',
        magnitude_range=(0, 15),
        magnitude_level=10,
        total_level=10,
        magnitude_std='inf',
        prob=0.5,
        pad_val=0),
    dict(
        type='Shear',
        magnitude_range=(0, 0.18),
        magnitude_level=10,
        total_level=10,
        magnitude_std='inf',
        prob=0.5,
        pad_val=0),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = {{_base_.test_pipeline}}
train_dataloader = dict(batch_size=80, dataset=dict(pipeline=train_pipeline))
push_dataloader = dict(
    batch_size=75,
    num_workers=4,
    dataset=dict(
        type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
        split='train',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='FreezeModulesHook', modules=['backbone'], until_epoch=5),
    dict(
        type='PrototypePushHook',
        dataloader=push_dataloader,
        start=10,
        interval=10,
        last_layer_epochs=20,
        last_layer_lr=1e-4),
]
# Cars has no part annotations: accuracy and explanation sparsity only.
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='ExplanationSparsity', mass=0.9),
]

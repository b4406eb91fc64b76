# ProtoPNet (Chen et al., NeurIPS 2019) on CUB-200-2011 full images, 224 px,
# ResNet-34 backbone: 2000 prototypes of 128 channels (10 per class),
# `regular` add-on (1x1 conv, ReLU, 1x1 conv, Sigmoid), log similarity,
# last layer +1 / -0.5, loss CE + 0.8 cluster - 0.08 separation + 1e-4 L1.
#
# Schedule of the official code (Adam): 5 warm-up epochs with the backbone
# frozen; joint training with lr backbone 1e-4 / add-on 3e-3 / prototypes
# 3e-3 (weight decay 1e-3, none on prototypes), StepLR(5, 0.1) from the end
# of warm-up; push every 10 epochs from epoch 10, each followed by 20
# last-layer-only passes at 1e-4. 50 epochs (the paper reports <= 50).
# Checkpoints are selected on the `val` split, never on `test`.
#
#   python tools/train.py configs/protopnet/protopnet_r34_cub.py
#   python tools/test.py configs/protopnet/protopnet_r34_cub.py CKPT
#
# The official code trains on a 30x offline-augmented copy of the cropped
# images; the online equivalent below (rotation +-15 deg, shear ~10 deg,
# flip) needs no extra disk.
_base_ = [
    '../_base_/datasets/cub_224.py',
    '../_base_/default_runtime.py',
]

# ImageNet-pretrained weights from a local file (nothing is downloaded), e.g.
# pretrained = 'checkpoints/resnet34_8xb32_in1k_20210831-f257d4e6.pth'
# (MMPretrain's ResNet-34). With None the backbone starts from random
# weights.
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
        num_classes=200,
        in_channels=512,
        prototypes_per_class=10,
        prototype_dim=128,
        add_on_type='regular',
        incorrect_class_connection=-0.5,
        loss=dict(
            type='ProtoPNetLoss',
            ce_weight=1.0,
            cluster_weight=0.8,
            separation_weight=-0.08,
            l1_weight=1e-4),
        topk=(1, 5)),
)

# ProtoPNet's offline augmentation (Augmentor, 30x: 10 rotated, 10 skewed and
# 10 sheared copies of each image, each flipped with probability 0.5), online:
# one of rotation +-15 deg, perspective skew 0.2 and shear +-10 deg per image,
# then the flip.
protopnet_augment = dict(
    type='RandomChoice',
    transforms=[
        [
            dict(
                type='Rotate',
                magnitude_range=(0, 15),
                magnitude_level=10,
                total_level=10,
                magnitude_std='inf',
                prob=1.0,
                pad_val=0)
        ],
        [dict(type='RandomSkew', prob=1.0, magnitude=0.2)],
        [
            dict(
                type='Shear',
                magnitude_range=(0, 0.18),
                magnitude_level=10,
                total_level=10,
                magnitude_std='inf',
                prob=1.0,
                pad_val=0)
        ],
    ])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    protopnet_augment,
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = {{_base_.test_pipeline}}
train_dataloader = dict(batch_size=80, dataset=dict(pipeline=train_pipeline))
# the paper's batch (80 on one GPU); --auto-scale-lr scales the rates to
# the real total batch
auto_scale_lr = dict(base_batch_size=80)

# Push set: the training images through the test pipeline, in order.
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

# One Adam, per-group rates and weight decays (longest matching key wins).
# Base: add-on 3e-3, wd 1e-3. The last layer is frozen by the push hook
# outside its phases and trained at 1e-4 (no weight decay) inside them.
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3e-3, weight_decay=1e-3),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=1 / 30),
            'head.layer.add_on': dict(lr_mult=1.0),
            'head.layer.prototypes': dict(lr_mult=1.0, decay_mult=0.0),
            'head.layer.last_layer': dict(decay_mult=0.0),
        }))
warm_epochs = 5
max_epochs = 50
param_scheduler = [
    dict(
        type='StepLR',
        by_epoch=True,
        begin=warm_epochs,
        step_size=5,
        gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    # the official warm-up freezes the backbone's weights but trains in
    # model.train(): its BatchNorm statistics keep adapting to the data
    dict(
        type='FreezeModulesHook',
        modules=['backbone'],
        until_epoch=warm_epochs,
        eval_mode=False),
    dict(
        type='PrototypePushHook',
        dataloader=push_dataloader,
        start=10,
        interval=10,
        last_layer_epochs=20,
        last_layer_lr=1e-4,
        percentile=95.),
    dict(type='PrototypeStabilityHook', std=0.2, clip=0.25),
]
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

val_evaluator = dict(type='Accuracy', topk=(1, 5))
# Huang et al. (ICCV 2023) protocol: 72-px boxes at 224 px, all 15 parts.
test_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='PrototypeConsistency', half_size=36, part_thresh=0.8),
    dict(type='PrototypeStability', half_size=36),
    dict(type='PrototypePurity', top_k=10, half_size=36),
    dict(type='ExplanationSparsity', mass=0.9),
]

# Only the pushed / projected network is the interpretable model, so no
# 'best' checkpoint is selected on val (it would be an earlier, unpushed
# one); the last checkpoint is the result, as the official code saves
# after the push.
default_hooks = dict(checkpoint=dict(save_best=None))

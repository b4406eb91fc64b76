# ST-ProtoPNet (Wang et al., ICCV 2023) on CUB-200-2011 full images, 224 px,
# ResNet-34: two branches (trivial, support) of 1000 prototypes of 64
# channels (5 per class) with cosine similarity, unit-norm prototypes
# (re-normalised after every step), logits = trivial + support. Losses per
# branch: CE, cluster -0.8, separation 0.08 (trivial) / 0.48 (support),
# orthogonality 1e-3, masked L1 1e-4, discrimination 1.0 (trivial),
# closeness 1.0 (support); branches updated alternately (official) or
# jointly (`model.head.update_mode='joint'`).
#
# Official full-image schedule: 120 epochs, 10 warm-up epochs (backbone
# frozen), Adam with backbone 1e-4, add-on / prototypes 3e-3, weight decay
# 1e-4 (none on prototypes), StepLR(20, 0.2) from the end of warm-up; push
# after epochs 100 and 110 (each followed by 10 last-layer-only passes at
# 1e-4), plus one after the last epoch so that the final prototypes are
# training patches.
#
#   python tools/train.py configs/st_protopnet/stprotopnet_r34_cub.py
_base_ = [
    '../_base_/datasets/cub_224.py',
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
        type='STProtoPNetHead',
        num_classes=200,
        in_channels=512,
        prototypes_per_class=5,
        prototype_dim=64,
        add_on_type='linear',
        upsample_factor=2,  # 1 for VGG (official)
        update_mode='alternate',
        loss_trivial=dict(
            type='STProtoPNetLoss',
            prefix='trivial',
            cluster_weight=-0.8,
            separation_weight=0.08,
            orth_weight=1e-3,
            l1_weight=1e-4,
            discrimination_weight=1.0),
        loss_support=dict(
            type='STProtoPNetLoss',
            prefix='support',
            cluster_weight=-0.8,
            separation_weight=0.48,
            orth_weight=1e-3,
            l1_weight=1e-4,
            closeness_weight=1.0),
        topk=(1, 5)),
)

# Official augmentation of the full-image model (RandomAffine +-25 deg,
# shear 15, flip) in MMPretrain ops.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(
        type='Rotate',
        magnitude_range=(0, 25),
        magnitude_level=10,
        total_level=10,
        magnitude_std='inf',
        prob=1.0,
        pad_val=0),
    dict(
        type='Shear',
        magnitude_range=(0, 0.27),
        magnitude_level=10,
        total_level=10,
        magnitude_std='inf',
        prob=1.0,
        pad_val=0),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = {{_base_.test_pipeline}}
train_dataloader = dict(batch_size=80, dataset=dict(pipeline=train_pipeline))
auto_scale_lr = dict(base_batch_size=80)  # the paper's batch
push_dataloader = dict(
    batch_size=100,
    num_workers=4,
    dataset=dict(
        type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
        split='train',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3e-3, weight_decay=1e-4),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=1 / 30),
            'head.trivial.prototypes': dict(decay_mult=0.0),
            'head.support.prototypes': dict(decay_mult=0.0),
            'last_layer': dict(decay_mult=0.0),
        }))
warm_epochs = 10
max_epochs = 120
param_scheduler = [
    dict(
        type='StepLR',
        by_epoch=True,
        begin=warm_epochs,
        step_size=20,
        gamma=0.2)
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
    dict(type='PrototypeRenormHook'),
    dict(
        type='PrototypePushHook',
        dataloader=push_dataloader,
        push_epochs=[100, 110, 120],
        last_layer_epochs=10,
        last_layer_lr=1e-4),
    dict(type='PrototypeStabilityHook', std=0.2, clip=0.25),
]
# alternating branches and frozen modules leave parameters without gradient
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

val_evaluator = dict(type='Accuracy', topk=(1, 5))
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

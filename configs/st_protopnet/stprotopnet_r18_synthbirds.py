# ST-ProtoPNet on SynthBirds (10 procedural bird classes, 112 px) on CPU in a
# few minutes, with the backbone of ../protopnet/protopnet_r18_synthbirds.py
# (pretrained by ../protopnet/resnet18-half_synthbirds_backbone.py: train
# that first). Trivial and support branches of 5 prototypes x 64 channels per
# class, cosine similarity, alternating branch updates, prototypes
# re-normalised after every step; 2 warm-up epochs, push after epochs 6 and
# 10 with last-layer-only passes. Numbers: configs/st_protopnet/README.md.
#
#   python tools/train.py configs/st_protopnet/stprotopnet_r18_synthbirds.py
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/models/resnet18-half_synthbirds.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    head=dict(
        type='STProtoPNetHead',
        num_classes=10,
        in_channels=256,
        prototypes_per_class=5,
        prototype_dim=64,
        add_on_type='linear',
        upsample_factor=2,
        update_mode='alternate',
        topk=(1, )),
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
param_scheduler = [
    dict(type='StepLR', by_epoch=True, begin=2, step_size=4, gamma=0.3)
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=2)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

push_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
        gen_cfg={{_base_.gen_cfg}},
        split='train',
        pipeline={{_base_.test_pipeline}}),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='FreezeModulesHook', modules=['backbone'], until_epoch=2),
    dict(type='PrototypeRenormHook'),
    dict(
        type='PrototypePushHook',
        dataloader=push_dataloader,
        push_epochs=[6, 10],
        last_layer_epochs=2,
        last_layer_lr=1e-3),
    dict(type='PrototypeStabilityHook', std=0.2, clip=0.25),
]
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='PrototypeConsistency', half_size=18),
    dict(type='PrototypeStability', half_size=18),
    dict(type='PrototypePurity', top_k=10, half_size=18),
    dict(type='ExplanationSparsity', mass=0.9),
    dict(
        type='PrototypePartLocalization',
        parts=[1, 4, 8, 12, 13],
        half_size=12,
        prefix='interp_discriminative'),
]
# Only the pushed / projected network is the interpretable model, so no
# 'best' checkpoint is selected on val (it would be an earlier, unpushed
# one); the last checkpoint is the result, as the official code saves
# after the push.
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(save_best=None))

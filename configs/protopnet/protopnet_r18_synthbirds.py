# ProtoPNet on SynthBirds (10 procedural bird classes, 112 px) on CPU in a
# few minutes: a half-width ResNet-18 whose last stage runs at stride 16
# (7x7 latent patches), 5 prototypes of 64 channels per class. As in the
# paper the backbone starts pretrained: here from the plain classifier of
# ./resnet18-half_synthbirds_backbone.py (train that first, ~3 min; a
# randomly initialised backbone under the cluster cost collapses all
# features onto the prototypes and stays at chance). The full ProtoPNet
# schedule in miniature (prototypes initialised from salient own-class
# patches, not torch.rand: see README), 2 warm-up epochs (backbone
# frozen), joint training, push after epochs 10 and 20, each followed by
# last-layer-only passes; the
# test set reports accuracy and the interpretability metrics (numbers:
# configs/protopnet/README.md).
#
#   python tools/train.py \
#       configs/protopnet/resnet18-half_synthbirds_backbone.py
#   python tools/train.py configs/protopnet/protopnet_r18_synthbirds.py
#   python tools/test.py configs/protopnet/protopnet_r18_synthbirds.py \
#       work_dirs/protopnet_r18_synthbirds/epoch_20.pth
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/models/resnet18-half_synthbirds.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    head=dict(
        type='ProtoPNetHead',
        num_classes=10,
        in_channels=256,
        prototypes_per_class=5,
        prototype_dim=64,
        add_on_type='regular',
        loss=dict(
            type='ProtoPNetLoss',
            ce_weight=1.0,
            cluster_weight=0.8,
            separation_weight=-0.08,
            l1_weight=1e-4),
        topk=(1, )),
)

# Per-group learning rates / weight decays (MMEngine paramwise_cfg), the
# official ratios: backbone 1e-4, add-on and prototypes 3e-3, weight decay
# 1e-3 except on prototypes; the last layer is frozen by the push hook
# outside its own phases.
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
    dict(type='StepLR', by_epoch=True, begin=2, step_size=8, gamma=0.3)
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

# The push set: training images through the *test* pipeline (no
# augmentation), in order.
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
    # warm-up: backbone frozen for the first 2 epochs
    dict(type='FreezeModulesHook', modules=['backbone'], until_epoch=2),
    # data-driven start (a deviation from the paper's torch.rand): every
    # prototype begins as a random latent patch of its own class, drawn
    # among the 25% most activated patches of each image. With torch.rand
    # the prototypes settle on border/background cells (README: Results).
    dict(
        type='PrototypeInitHook',
        dataloader=push_dataloader,
        salient_fraction=0.25),
    # push after epochs 10 and 20, gallery PNG/JSON in work_dir/prototypes,
    # then last-layer-only passes (the official 1e-4 barely moves in 2
    # short passes, hence 1e-3 here)
    dict(
        type='PrototypePushHook',
        dataloader=push_dataloader,
        push_epochs=[10, 20],
        last_layer_epochs=2,
        last_layer_lr=1e-3),
    # noisy second pass for the stability metric (test only)
    dict(type='PrototypeStabilityHook', std=0.2, clip=0.25),
]
# frozen parameters (warm-up, last layer) get no gradient under DDP
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

# 72-px boxes at 224 px are 36-px boxes at 112 px (half size 18).
# Discriminative SynthBirds parts ('easy'): beak 1, crown 4, left wing 8,
# right wing 12, tail 13.
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

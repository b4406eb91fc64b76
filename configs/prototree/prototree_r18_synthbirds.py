# ProtoTree on SynthBirds (10 procedural bird classes, 112 px), trained from
# scratch on the CPU: the first three stages of ResNet-18 (256 channels at
# stride 16, so 7x7 latent patches), a depth-4 tree (15 prototypes of 64
# channels, 16 leaves), derivative-free leaves, then pruning +
# class-constrained projection and the tree render after training.
# Numbers: configs/prototree/README.md.
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        style='pytorch'),
    head=dict(
        type='ProtoTreeHead',
        num_classes=10,
        in_channels=256,
        depth=4,
        proto_channels=64,
        leaf_learning='derivative_free',
        inference_mode='soft',
        # The paper's 0.01 is 2x the uniform probability of CUB's 200
        # classes; with 10 classes every leaf has max prob >= 0.1, so 0.01
        # could never prune. 0.25 (2.5x uniform) plays its role here.
        prune_threshold=0.25,
        patch_size=48,
        topk=(1, )),
)

# The paper's optimiser (AdamW, eps 1e-7) and per-group learning rates in
# MMEngine form. The backbone is trained from scratch here, so it gets the
# same rate as the tree (the CUB config gives the pretrained backbone 1e-5).
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, eps=1e-7, weight_decay=0.0),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=1.0),
            'head.add_on': dict(lr_mult=1.0),
            'head.prototypes': dict(lr_mult=1.0, decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[30, 35], gamma=0.5)
]
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='TreeFidelity'),
]
test_evaluator = val_evaluator

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ProtoTreeLeafUpdateHook'),
    # after training: prune (0.01), project onto training patches of the
    # leaves' classes, evaluate each step, save
    # work_dir/prototree_pruned_projected.pth
    dict(type='ProtoTreePruneProjectHook'),
    dict(type='ProtoTreeRenderHook'),
]
# FreezeModulesHook (see prototree_r50_cub.py) is left out: freezing a
# randomly initialised backbone only delays learning.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
# The pruned + projected tree (ProtoTreePruneProjectHook, after training) is
# the result; no 'best' checkpoint of the unprojected tree is selected.
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(save_best=None))

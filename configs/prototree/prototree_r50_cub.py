# ProtoTree on CUB-200-2011 (Nauta et al., CVPR 2021): ResNet-50 (the paper
# uses iNaturalist2017-pretrained weights), depth-9 tree (511 prototypes of
# 256 channels, 512 leaves), 224 px, batch 64, 100 epochs, AdamW (eps 1e-7),
# MultiStepLR(60, 70, 80, 90, 100; x0.5), backbone frozen (all but its last
# block) for 30 epochs; after training the tree is pruned (0.01), projected
# onto training patches of the leaves' classes and rendered.
#
#   python tools/train.py configs/prototree/prototree_r50_cub.py
#
# Pretrained weights are never downloaded: set `pretrained` below to a local
# ResNet-50 checkpoint with MMPretrain keys (README.md explains converting
# the paper's iNat2017 weights, BBN.iNaturalist2017.res50.180epoch
# .best_model.pth), or from the command line:
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.prefix=backbone \
#       model.backbone.init_cfg.checkpoint=checkpoints/r50_inat2017.pth
# With `pretrained = None` the backbone starts from random weights.
_base_ = [
    '../_base_/datasets/cub_224.py',
    '../_base_/default_runtime.py',
]

pretrained = None

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    head=dict(
        type='ProtoTreeHead',
        num_classes=200,
        in_channels=2048,
        depth=9,
        proto_channels=256,
        leaf_learning='derivative_free',
        inference_mode='soft',
        prune_threshold=0.01,
        topk=(1, 5)),
)

# Paper: lr 1e-3 for prototypes, add-on and the backbone's last block
# (layer4.2), 1e-5 for the rest of the backbone. The longest matching key
# wins, so 'backbone.layer4.2' overrides 'backbone'.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, eps=1e-7, weight_decay=0.0),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.01),
            'backbone.layer4.2': dict(lr_mult=1.0),
            'head.add_on': dict(lr_mult=1.0),
            'head.prototypes': dict(lr_mult=1.0, decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        milestones=[60, 70, 80, 90, 100],
        gamma=0.5)
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)

val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='TreeFidelity'),
]
test_evaluator = val_evaluator

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    # frozen for the first 30 epochs: everything but the last block (the
    # weights; as in the official code, which trains in model.train(), the
    # BatchNorm statistics keep adapting)
    dict(
        type='FreezeModulesHook',
        modules=[
            'backbone.conv1', 'backbone.bn1', 'backbone.layer1',
            'backbone.layer2', 'backbone.layer3', 'backbone.layer4.0',
            'backbone.layer4.1'
        ],
        until_epoch=30,
        eval_mode=False),
    dict(type='ProtoTreeLeafUpdateHook'),
    dict(type='ProtoTreePruneProjectHook', threshold=0.01),
    dict(type='ProtoTreeRenderHook'),
]
# frozen parameters get no gradient under DDP
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

# The pruned + projected tree (ProtoTreePruneProjectHook, after training) is
# the result; no 'best' checkpoint of the unprojected tree is selected.
default_hooks = dict(checkpoint=dict(save_best=None))

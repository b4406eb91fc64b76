# BAS, ResNet-50, CUB-200-2011 (Wu et al., CVPR 2022), the paper's recipe:
# layer3 at stride 1 (28x28 generator map at 224 px) and a 2x2 max-pool
# before a stride-1 layer4 (14x14), a conv3x3(1024) x 2 + conv1x1 head,
# (alpha, beta) = (0.5, 1.5), SGD nesterov 0.9, weight decay 5e-4, lr 1e-3
# (head x10), batch 32, 120 epochs with a x0.1 decay at epoch 80; test on
# the mean map of the top-200 classes (all), threshold 0.1, box of the
# largest contour (LocalizationMetric, the wsolevaluation rule; the official
# BAS evaluator takes the largest 8-connected component of the float map,
# which can differ by a pixel or so at the boundary).
#
# Unlike the official code, checkpoints are not selected on the test set:
# the `val` split (held out from the official train set) is used.
#
#   python tools/train.py configs/bas/bas_r50_cub.py
#   python tools/test.py configs/bas/bas_r50_cub.py CHECKPOINT
_base_ = [
    '../_base_/datasets/cub_224.py',
    '../_base_/default_runtime.py',
]

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None

model = dict(
    type='BAS',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        strides=(1, 2, 1, 1),
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    tail_pool=2,
    topk=200,
    head=dict(
        type='BASHead',
        num_classes=200,
        in_channels=2048,
        gen_in_channels=1024,
        hidden_channels=1024,
        num_convs=2,
        loss_cls=dict(type='CrossEntropyLoss', loss_weight=1.0),
        # alpha
        loss_fg=dict(type='ForegroundGuidanceLoss', loss_weight=0.5),
        loss_amc=dict(
            type='ActivationMapConstraintLoss', loss_weight=1.0,
            overflow='clip'),
        # beta
        loss_area=dict(type='AreaLoss', loss_weight=1.5)),
)

# The official pipeline: resize to 256 x 256, random 224 crop + flip for
# training, centre 224 crop for testing (boxes follow the geometry).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(
    batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[80], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

# Top-1/Top-5 Loc and GT-known Loc at the paper's tau = 0.1, plus the
# threshold-free MaxBoxAcc / MaxBoxAccV2 (LocalizationMetric computes all).
val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='LocalizationMetric', threshold=0.1, topk=(1, 5)),
]
test_evaluator = val_evaluator

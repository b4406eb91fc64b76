# BAS for weakly supervised semantic segmentation on PASCAL VOC 2012
# (image-level labels, train_aug). The official WSSS variant: ResNet-50
# with layer3 at stride 2 and layer4 at stride 1 (both 1/16), a 1x1
# classifier (num_convs=0), in every step one positive class per image
# drives the foreground map, the foreground guidance on the detached logit
# map, (alpha, beta) = (0.2, 1.2), SGD lr 5e-3 (head x10, poly decay),
# weight decay 1e-4, batch 16, 10 epochs, 448 crops of images resized to
# 512. The classification loss here is the sigmoid (multi-label soft
# margin) loss; the official code uses a per-positive softmax against the
# negatives.
#
# Seeds (pseudo masks) and their mIoU (MMSegmentation's IoUMetric):
#   python tools/train.py configs/bas/bas_r50_voc-wsss.py
#   python tools/analysis_tools/export_pseudo_masks.py \
#       configs/bas/bas_r50_voc-wsss.py CKPT --out-dir work_dirs/voc_seeds \
#       --split train --scales 1.0 0.5 1.5 2.0 --eval
_base_ = ['../_base_/default_runtime.py']

# Local ImageNet weights (MMPretrain keys), e.g.
# pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None

dataset_type = 'PascalVOC2012'
data_root = 'data/VOCdevkit/VOC2012'
data_preprocessor = dict(
    num_classes=20,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=False,
)

model = dict(
    type='BAS',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        style='pytorch',
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    tail_pool=1,
    topk=1,
    head=dict(
        type='BASHead',
        num_classes=20,
        in_channels=2048,
        gen_in_channels=1024,
        num_convs=0,
        multi_label=True,
        detach_fg_features=True,
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_fg=dict(type='ForegroundGuidanceLoss', loss_weight=0.2),
        loss_amc=dict(
            type='ActivationMapConstraintLoss', loss_weight=1.0,
            overflow='clip'),
        loss_area=dict(type='AreaLoss', loss_weight=1.2)),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='RandomCrop', crop_size=448, pad_if_needed=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448)),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train_aug',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# image-level classification on val; the seeds are scored by the export
# tool (pseudo masks of `train`, MMSegmentation's IoUMetric)
val_evaluator = dict(type='MultiLabelMetric', average='macro')
test_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=5e-3, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16)

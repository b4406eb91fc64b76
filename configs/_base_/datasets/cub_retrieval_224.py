# CUB-200-2011 for deep metric learning (class-disjoint protocol): train on
# all images of classes 1-100 (5,864), retrieve among all images of classes
# 101-200 (5,924), each query excluded from its own gallery. Batches hold
# m=4 images of 16 classes (MPerClassSampler). Layout: docs/datasets.md.
dataset_type = 'CUB'
data_root = 'data/CUB_200_2011'

data_preprocessor = dict(
    num_classes=100,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackFGInputs'),
]

batch_size = 64
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        class_split='first',
        pipeline=train_pipeline),
    sampler=dict(type='MPerClassSampler', m=4, batch_size=batch_size),
)
test_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        class_split='second',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# The protocol has no validation classes: "val" is the test classes, so
# checkpoints are not selected on it (save_best off in the method configs).
val_dataloader = test_dataloader
test_evaluator = dict(type='RetrievalMetric', topk=(1, 2, 4, 8))
val_evaluator = test_evaluator

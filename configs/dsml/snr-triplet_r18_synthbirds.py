# DSML on SynthBirds, CPU in a few minutes: 20 procedural bird classes
# (generated into data/synthbirds-20cls on first use, shared with the
# target-embedding configs), class-disjoint: classes 1-10 train (600
# images), retrieval among classes 11-20 (600). Half-width ResNet-18 from
# scratch, 64 px, 128-d embedding, SNR triplet loss over all triplets,
# batches of 8 classes x 4 images. l2-triplet_r18_synthbirds.py is the
# same run with the L2 distance. Numbers: configs/dsml/README.md.
#   python tools/train.py configs/dsml/snr-triplet_r18_synthbirds.py
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/default_runtime.py',
]

distance = 'snr'
data_root = 'data/synthbirds-20cls'
gen_cfg = dict(
    num_classes=20, images_per_class=60, image_size=128, seed=0,
    difficulty='easy')
data_preprocessor = dict(num_classes=10)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackFGInputs'),
]
batch_size = 32
auto_scale_lr = dict(base_batch_size=batch_size)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        gen_cfg=gen_cfg,
        split='all',
        class_split='first',
        pipeline=train_pipeline),
    sampler=dict(
        _delete_=True, type='MPerClassSampler', m=4, batch_size=batch_size),
)
test_dataloader = dict(
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        gen_cfg=gen_cfg,
        split='all',
        class_split='second',
        pipeline=test_pipeline),
)
val_dataloader = test_dataloader
val_evaluator = dict(
    _delete_=True, type='RetrievalMetric', topk=(1, 2, 4, 8),
    distance=distance)
test_evaluator = val_evaluator

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        stem_channels=32,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='EmbeddingHead',
        in_channels=256,
        embed_dim=128,
        normalize=False,
        # every triplet, mean over the violating ones: on this short run
        # semi-hard mining barely moves off the untrained model
        loss=dict(
            type='TripletLoss', margin=0.2, distance=distance, miner='all'),
        regularizer=dict(type='ZeroMeanRegularizer', loss_weight=0.01)),
)

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=15, by_epoch=True, begin=0,
         end=15),
]
train_cfg = dict(by_epoch=True, max_epochs=15, val_interval=5)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(type='CheckpointHook', interval=5, save_best=None))

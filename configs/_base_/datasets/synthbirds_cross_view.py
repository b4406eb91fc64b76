# SynthBirds with paired overhead views (gen_cfg with_overhead=True: a
# habitat texture drawn at each observation's location), for BirdSAT
# pre-training on CPU. Ground 64 px, overhead 32 px, BirdSAT meta encoding.
# Generated into data_root on first use (no download).
dataset_type = 'SynthBirdsCrossView'
data_root = 'data/synthbirds_cross_view'
gen_cfg = dict(
    num_classes=10, images_per_class=60, image_size=64, seed=0,
    difficulty='easy', with_meta=True)
ground_size = 64
overhead_size = 32

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)


_overhead = dict(
    type='KeyMapper',
    mapping=dict(img_path='overhead_path', img='overhead_img'),
    auto_remap=True,
    transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(overhead_size, overhead_size)),
    ])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=ground_size,
         crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    _overhead,
    dict(type='SpatioTemporalMeta', encoding='birdsat'),
    dict(type='CollectViews', keys=('img', 'overhead_img')),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(ground_size, ground_size)),
    _overhead,
    dict(type='SpatioTemporalMeta', encoding='birdsat'),
    dict(type='CollectViews', keys=('img', 'overhead_img')),
    dict(type='PackFGInputs'),
]

_loader = dict(
    num_workers=2,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
)
train_dataloader = dict(
    batch_size=32,
    **_loader,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        gen_cfg=gen_cfg,
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,
)
val_dataloader = dict(
    batch_size=64,
    **_loader,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        gen_cfg=gen_cfg,
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = dict(
    batch_size=64,
    **_loader,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        gen_cfg=gen_cfg,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='CrossViewRetrievalMetric', topk=(1, 5, 10))
test_evaluator = val_evaluator

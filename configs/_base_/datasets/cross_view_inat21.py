# Cross-View iNat-2021 birds (BirdSAT): iNaturalist-2021 bird photos paired
# with satellite tiles of their observation location, with location/date
# meta. Convert the release to the CrossViewDataset format (cross_view.txt +
# classes.txt, see mmfg/datasets/cross_view.py and configs/birdsat/README.md)
# under data_root. Ground 384 px, satellite 224 px (paper).
dataset_type = 'CrossViewDataset'
data_root = 'data/cross_view_inat21'
ground_size = 384
overhead_size = 224

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

_overhead_train = dict(
    type='KeyMapper',
    mapping=dict(img_path='overhead_path', img='overhead_img'),
    auto_remap=True,
    transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=overhead_size,
             crop_ratio_range=(0.5, 1.0)),
    ])
_overhead_test = dict(
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
         crop_ratio_range=(0.2, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    _overhead_train,
    dict(type='SpatioTemporalMeta', encoding='birdsat'),
    dict(type='CollectViews', keys=('img', 'overhead_img')),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(ground_size, ground_size)),
    _overhead_test,
    dict(type='SpatioTemporalMeta', encoding='birdsat'),
    dict(type='CollectViews', keys=('img', 'overhead_img')),
    dict(type='PackFGInputs'),
]

_loader = dict(
    num_workers=8,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
)
train_dataloader = dict(
    batch_size=64,
    **_loader,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
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
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='CrossViewRetrievalMetric', topk=(1, 5, 10))
test_evaluator = val_evaluator

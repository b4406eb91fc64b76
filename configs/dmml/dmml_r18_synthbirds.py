# DMML on SynthBirds, CPU: 20 procedural bird classes (data/synthbirds-20cls,
# shared with configs/dsml and configs/target_embedding), class-disjoint:
# classes 1-10 train (600 images), retrieval among classes 11-20 (600).
# A cohort of three quarter-width ResNet-18 (from scratch, 64 px, 128-d
# L2-normalised embeddings), triplet loss with semi-hard mining per member,
# RKD transfer, seeds 0/1/2, the third member updated every second
# iteration, the second teaching through an EMA copy, one augmented view per
# member. dmml_r18-k1_synthbirds.py trains one member alone with the same
# budget. Numbers: configs/dmml/README.md.
#   python tools/train.py configs/dmml/dmml_r18_synthbirds.py
_base_ = ['../dsml/l2-triplet_r18_synthbirds.py']

num_members = 3
member = dict(
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        stem_channels=16,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='EmbeddingHead',
        in_channels=128,
        embed_dim=128,
        normalize=True,
        loss=dict(
            type='TripletLoss', margin=0.2, distance='l2',
            miner='semi-hard')),
)
model = dict(
    _delete_=True,
    type='MutualMetricLearner',
    members=member,
    num_members=num_members,
    seeds=(0, 1, 2),
    transfer_loss=dict(type='RKDLoss', distance_weight=1.0, angle_weight=2.0),
    transfer_weight=1.0,
    update_intervals=(1, 1, 2),
    ema_momentum=(None, 0.99, None),
    ensemble_normalize=True)
data_preprocessor = dict(type='MultiViewClsDataPreprocessor')

view_pipeline = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=num_members,
         transforms=[view_pipeline]),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

val_evaluator = [
    dict(type='RetrievalMetric', topk=(1, 2, 4, 8), distance='l2',
         embedding_key=f'embedding_{k}', prefix=f'member{k}')
    for k in range(num_members)
] + [dict(type='RetrievalMetric', topk=(1, 2, 4, 8), distance='l2',
          embedding_key='embedding', prefix='ensemble')]
test_evaluator = val_evaluator
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

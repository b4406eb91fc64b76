# DMML (Park et al., 2020): a cohort of three ResNet-50 + 512-d embedding
# models trained together on CUB-200-2011, class-disjoint retrieval (classes
# 1-100 train, 101-200 test). Triplet loss (semi-hard mining) per member,
# RKD distance + angle transfer between members; model diversity (a seed
# per member), temporal diversity (the third member is updated every second
# iteration and the second teaches through an EMA copy of itself), view
# diversity (each member its own random crop/flip of every image).
# Evaluation: every member and the concatenated ensemble in one test run.
# Data, optimiser (AdamW 1e-4, embedding layers 10x) and the 60-epoch
# schedule are those of the DSML CUB config.
#   python tools/train.py configs/dmml/dmml_r50_cub.py
#   python tools/test.py configs/dmml/dmml_r50_cub.py CKPT
_base_ = ['../dsml/snr-triplet_r50_cub.py']

# ImageNet-pretrained weights from a local file (nothing is downloaded):
# e.g. pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None
num_members = 3

member = dict(
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='EmbeddingHead',
        in_channels=2048,
        embed_dim=512,
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
    ema_momentum=(None, 0.999, None),
    ensemble_normalize=True)
# multi-view batches -> (B, V, C, H, W); mean/std from the dataset base
data_preprocessor = dict(type='MultiViewClsDataPreprocessor')

# every image gives one augmented view per member (view diversity)
view_pipeline = [
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=num_members,
         transforms=[view_pipeline]),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# one RetrievalMetric per member plus the ensemble (L2 distance)
test_evaluator = [
    dict(type='RetrievalMetric', embedding_key=f'embedding_{k}',
         prefix=f'member{k}') for k in range(num_members)
] + [dict(type='RetrievalMetric', embedding_key='embedding',
          prefix='ensemble')]
val_evaluator = test_evaluator

# members updated every other iteration get no gradient in between: DDP
# must tolerate parameters without gradients
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

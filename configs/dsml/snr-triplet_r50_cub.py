# DSML (Yuan et al., CVPR 2019): triplet loss under the SNR distance with the
# zero-mean regulariser, ResNet-50 + 512-d embedding, CUB-200-2011
# class-disjoint retrieval (classes 1-100 train, 101-200 test), evaluated
# with the SNR distance (Recall@1/2/4/8, Precision@1, R-Precision, MAP@R,
# NMI).
#   python tools/train.py configs/dsml/snr-triplet_r50_cub.py
#   python tools/test.py configs/dsml/snr-triplet_r50_cub.py CKPT
_base_ = [
    '../_base_/datasets/cub_retrieval_224.py',
    '../_base_/default_runtime.py',
]

# ImageNet-pretrained weights from a local file (nothing is downloaded):
# e.g. pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None
distance = 'snr'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=-1,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='EmbeddingHead',
        in_channels=2048,
        embed_dim=512,
        normalize=False,
        loss=dict(
            type='TripletLoss', margin=0.2, distance=distance,
            miner='semi-hard'),
        regularizer=dict(type='ZeroMeanRegularizer', loss_weight=0.01)),
)

val_evaluator = dict(type='RetrievalMetric', distance=distance)
test_evaluator = val_evaluator

# backbone at lr, the new embedding layer at 10 x lr
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=59, by_epoch=True, begin=1,
         end=60),
]
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=5)
val_cfg = dict()
test_cfg = dict()
# the protocol has no validation classes: keep the last checkpoint instead
# of selecting one on the test classes
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=5, save_best=None))
auto_scale_lr = dict(base_batch_size=64)

# CMD self-supervised pre-training on CUB-200-2011 (paper settings):
# Swin-T, 2 global 224-px crops (scale 0.4-1) and 8 local 96-px crops
# (0.05-0.4), DINO / EsViT augmentations, K = 65536, teacher temperature
# 0.04 -> 0.07 over 30 epochs, teacher momentum 0.996 -> 1, AdamW
# lr 5e-4 x batch / 256 with 10 warm-up epochs, 300 epochs, 16 GPUs x 32.
# No labels are used for training; the frozen teacher is evaluated by
#   python tools/analysis_tools/ssl_eval.py THIS_CONFIG CKPT
# (linear probe on the last-4-stage features, k-NN, Rank-1/5 + mAP@100).
_base_ = ['../_base_/default_runtime.py']

dataset_type = 'CUB'
data_root = 'data/CUB_200_2011'
train_split = 'trainval'  # the official training images, no labels used

embed_dims = 768  # Swin-T last stage
out_channels = 65536
global_size, local_size = 224, 96

model = dict(
    type='CMD',
    backbone=dict(
        type='SwinTransformer',
        arch='tiny',
        img_size=global_size,
        drop_path_rate=0.1,
        out_indices=(3, ),
        pad_small_map=True),  # 96-px local crops: 3x3 last-stage maps
    head=dict(
        type='DINOProjectionHead', in_channels=embed_dims,
        out_channels=out_channels, hidden_channels=2048,
        bottleneck_channels=256, norm_last_layer=False),
    region_head=dict(
        type='DINOProjectionHead', in_channels=embed_dims,
        out_channels=out_channels, hidden_channels=2048,
        bottleneck_channels=256, norm_last_layer=False),
    mil_pooling=dict(
        type='AttentionMILPooling', in_channels=embed_dims,
        hidden_channels=128, gated=True),
    loss_image=dict(
        type='MultiCropDistillLoss', out_channels=out_channels,
        student_temp=0.1, center_momentum=0.9),
    loss_region=dict(
        type='MultiCropDistillLoss', out_channels=out_channels,
        student_temp=0.1, center_momentum=0.9, region=True),
    loss_inter=dict(type='MILDistillLoss', loss_weight=1.0),
    num_global_views=2,
    base_momentum=0.004,  # teacher momentum 0.996, cosine to 1
    teacher_temp=0.07,
)

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


def _colour(blur_prob, solarize_prob):
    # DINO / EsViT colour jitter (hue > 0 needs mmfg's adjust_hue fix for
    # numpy 2, applied on import mmfg)
    return [
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.2, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


def _crop(size, scale):
    return [
        dict(type='RandomResizedCrop', scale=size, crop_ratio_range=scale,
             interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    ]


train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1, 8],
         transforms=[
             _crop(global_size, (0.4, 1.0)) + _colour(1.0, 0.0),
             _crop(global_size, (0.4, 1.0)) + _colour(0.1, 0.2),
             _crop(local_size, (0.05, 0.4)) + _colour(0.5, 0.0),
         ]),
    dict(type='PackInputs'),
]
eval_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split=train_split,
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = None
val_cfg = None
val_evaluator = None

ssl_eval = dict(
    train=dict(type=dataset_type, data_root=data_root, split=train_split,
               pipeline=eval_pipeline),
    test=dict(type=dataset_type, data_root=data_root, split='test',
              pipeline=eval_pipeline),
    # Swin-T outputs stages, not blocks: the last stage only (EsViT's probe
    # concatenates the last 4 blocks; see configs/cmd/README.md)
    n_last_blocks=1,
    linear=dict(epochs=100, lr=0.1, wd=5e-4, batch_size=256),
    knn=dict(k=20, temperature=0.07),
    retrieval=dict(query_every=9),
)

max_epochs = 300
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4 * 512 / 256, weight_decay=0.04),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0,
        custom_keys=dict(
            absolute_pos_embed=dict(decay_mult=0.),
            relative_position_bias_table=dict(decay_mult=0.))))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, by_epoch=True,
         begin=10, end=max_epochs, eta_min=1e-6,
         convert_to_iter_based=True),
    # DINO's weight-decay schedule 0.04 -> 0.4
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min=0.4, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

custom_hooks = [
    dict(type='TeacherTempWarmupHook', start=0.04, end=0.07,
         warmup_epochs=30),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_best=None))
# the lr above is for 16 GPUs x 32; scaled when --auto-scale-lr is given
auto_scale_lr = dict(base_batch_size=512)

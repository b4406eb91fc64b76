# CMD self-supervised pre-training of a tiny ViT on SynthBirds (CPU, ~8 min
# on a lightly loaded 2-core machine): the recipe of cmd_swin-t_cub.py scaled
# down, 2 global 64-px and 2 local 32-px crops, K = 64, teacher temperature
# 0.04 (no warm-up), teacher momentum 0.99 -> 1, batch 16, 40 epochs. The
# earlier K = 256, 0.04 -> 0.07, momentum 0.96, 16 x 8 iterations recipe
# collapsed to a uniform teacher (see README.md). Evaluate with
#   python tools/analysis_tools/ssl_eval.py THIS_CONFIG CKPT --pool cls+mean
# (linear probe, weighted k-NN, Rank-1/5 + mAP@100 retrieval on the
# `ssl_eval` datasets below).
_base_ = ['./cmd_swin-t_cub.py']

dataset_type = 'SynthBirds'
data_root = 'data/synthbirds'
gen_cfg = dict(
    num_classes=10, images_per_class=60, image_size=128, seed=0,
    difficulty='easy')

embed_dims = 64
out_channels = 64  # K of the image / region distributions
global_size, local_size = 64, 32
_head = dict(in_channels=embed_dims, out_channels=out_channels,
             hidden_channels=256, bottleneck_channels=64)

model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch=dict(
            embed_dims=embed_dims, num_layers=4, num_heads=2,
            feedforward_channels=4 * embed_dims),
        img_size=global_size,
        patch_size=8,
        out_type='raw',
        out_indices=(0, 1, 2, 3),  # the last 4 blocks feed the linear probe
        drop_path_rate=0.0),
    head=_head,
    region_head=_head,
    mil_pooling=dict(in_channels=embed_dims, hidden_channels=64,
                     gated=False),
    loss_image=dict(out_channels=out_channels),
    loss_region=dict(out_channels=out_channels),
    loss_inter=dict(loss_weight=0.5),
    base_momentum=0.01,  # teacher momentum 0.99 -> 1
    teacher_temp=0.04)

# Mild colour jitter and grayscale (DINO's without hue: mmcv's adjust_hue
# fails on negative shifts under numpy 2) so that views cannot be matched
# by the body / background colour alone, which does not tell classes apart.
colour = [
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
global_view = [
    dict(type='RandomResizedCrop', scale=global_size,
         crop_ratio_range=(0.4, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
] + colour
local_view = [
    dict(type='RandomResizedCrop', scale=local_size,
         crop_ratio_range=(0.1, 0.4)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
] + colour
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[2, 2],
         transforms=[global_view, local_view]),
    dict(type='PackInputs'),
]
eval_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(global_size, global_size)),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(
        type=dataset_type, data_root=data_root, gen_cfg=gen_cfg,
        split='train', pipeline=train_pipeline))

# probes trained on `train`, reported on `test`; retrieval queries are every
# 9th test image, the gallery the rest of test plus train (CMD's protocol)
ssl_eval = dict(
    train=dict(type=dataset_type, data_root=data_root, gen_cfg=gen_cfg,
               split='train', pipeline=eval_pipeline),
    test=dict(type=dataset_type, data_root=data_root, gen_cfg=gen_cfg,
              split='test', pipeline=eval_pipeline),
    n_last_blocks=4,
    linear=dict(batch_size=None))  # full batch

max_epochs = 40
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(
        custom_keys=dict(
            cls_token=dict(decay_mult=0.), pos_embed=dict(decay_mult=0.))))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 3, by_epoch=True,
         begin=3, end=max_epochs, eta_min=1e-5,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)

custom_hooks = [
    dict(type='TeacherTempWarmupHook', start=0.04, end=0.04,
         warmup_epochs=1),
]
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=10, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=32)

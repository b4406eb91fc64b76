# BirdSAT CVE-MAE pre-training on Cross-View iNat-2021 birds (paper setup):
# ground ViT-B/32 MAE at 384 px (mask 0.75) + satellite ViT-B/16 at 224 px;
# loss = ground reconstruction + 0.3 * symmetric InfoNCE between the class
# tokens; location/date meta added to the ground class embedding with
# whole-batch meta dropout 0.25. Optimiser and schedule: MAE's (AdamW,
# lr 1.5e-4 * batch / 256, cosine, 40 warm-up epochs).
_base_ = [
    '../_base_/datasets/cross_view_inat21.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='CVEMAE',
    backbone=dict(
        type='BirdSATViT',
        arch='b',
        img_size=384,
        patch_size=32,
        mask_ratio=0.75,
        out_type='cls_token',
        meta_dims=dict(location=4, time=4),
        meta_drop_prob=0.25),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=144,
        patch_size=32,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=32,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    # Satellite encoder (the paper starts it from a remote-sensing MAE
    # checkpoint: add init_cfg=dict(type='Pretrained', checkpoint=...)).
    sat_backbone=dict(
        type='VisionTransformer',
        arch='b',
        img_size=224,
        patch_size=16,
        out_type='cls_token'),
    contrastive_loss=dict(type='InfoNCELoss', temperature=0.07),
    contrastive_weight=0.3,
)

max_epochs = 200
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=1.5e-4 * 64 / 256, betas=(0.9, 0.95),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, by_epoch=True,
         begin=40, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3,
                    save_best='cross_view/Recall@1', rule='greater'))
custom_hooks = []
auto_scale_lr = dict(base_batch_size=64)

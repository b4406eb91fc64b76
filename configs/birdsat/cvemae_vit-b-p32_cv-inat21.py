# BirdSAT CVE-MAE pre-training on Cross-View iNat-2021 birds (paper setup):
# ground ViT-B/32 MAE at 384 px (mask 0.75) + satellite ViT-B/16 at 224 px;
# loss = ground reconstruction + 0.3 * symmetric InfoNCE between the class
# tokens. As the official code: location/date meta (Linear(4->768) each)
# added to the satellite encoder's output class token, whole-batch meta
# dropout 0.25 (the ground encoder never sees meta); the pre-trained
# satellite encoder is frozen; plain cosine logits (temperature 1).
# Optimiser and schedule: MAE's (AdamW, lr 1.5e-4 * batch / 256, cosine,
# 40 warm-up epochs).
_base_ = [
    '../_base_/datasets/cross_view_inat21.py',
    '../_base_/default_runtime.py',
]

sat_pretrained = 'checkpoints/sat-mae_vit-b-p16_224.pth'
model = dict(
    type='CVEMAE',
    backbone=dict(
        type='BirdSATViT',
        arch='b',
        img_size=384,
        patch_size=32,
        mask_ratio=0.75,
        out_type='cls_token'),
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
    # Satellite encoder, loaded from `sat_pretrained` (the paper uses a
    # remote-sensing MAE, ViTAE-B/16 at 224; convert it to MMPretrain
    # VisionTransformer keys or point this at any ViT-B/16 remote-sensing
    # checkpoint) and frozen (freeze_sat_backbone). Freezing a randomly
    # initialised encoder is pointless: without such a checkpoint drop the
    # init_cfg AND set freeze_sat_backbone=False.
    sat_backbone=dict(
        type='VisionTransformer',
        arch='b',
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint=sat_pretrained)),
    freeze_sat_backbone=True,
    # official: plain cosine similarities as logits (no temperature)
    contrastive_loss=dict(type='InfoNCELoss', temperature=1.0),
    contrastive_weight=0.3,
    # official: InfoNCE on the class token of a second, unmasked ground
    # forward (the reconstruction uses the masked one); ~2x the step time
    # of the tiny config. False: the masked forward's token (one pass).
    unmasked_contrastive=True,
    meta_dims=dict(location=4, time=4),
    meta_drop_prob=0.25,
    meta_position='sat_output',
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
# the val split is also the test split: report the last checkpoint, do not
# select one on it
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3,
                    save_best=None))
custom_hooks = []
auto_scale_lr = dict(base_batch_size=64)

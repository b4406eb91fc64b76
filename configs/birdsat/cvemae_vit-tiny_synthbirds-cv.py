# CVE-MAE on SynthBirds cross-view (CPU, a few minutes): a 4-layer 64-d ViT
# ground MAE (64 px, patch 8) + a 2-layer satellite ViT (32 px, patch 8),
# symmetric InfoNCE (0.3) between the class tokens. No meta (the meta
# variant is cvemae-meta_vit-tiny_synthbirds-cv.py): with meta the class
# token could match the overhead view from the location alone.
_base_ = [
    '../_base_/datasets/synthbirds_cross_view.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(dataset=dict(split='trainval'))
val_dataloader = dict(dataset=dict(split='test'))

_arch = dict(
    embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128)
model = dict(
    type='CVEMAE',
    backbone=dict(
        type='BirdSATViT',
        arch=_arch,
        img_size=64,
        patch_size=8,
        mask_ratio=0.75,
        out_type='cls_token'),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=64,
        patch_size=8,
        embed_dim=64,
        decoder_embed_dim=64,
        decoder_depth=1,
        decoder_num_heads=4),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=8,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    sat_backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=64, num_layers=2, num_heads=4,
            feedforward_channels=128),
        img_size=32,
        patch_size=8,
        out_type='cls_token'),
    # No pre-trained satellite weights exist here: train it (the paper
    # configs freeze their pre-trained one).
    freeze_sat_backbone=False,
    # 0.1, not the official 1.0: with cosine logits in [-1, 1] and 32 pairs
    # per batch the InfoNCE gradient is too weak for this tiny budget
    # (README, "Temperature").
    contrastive_loss=dict(type='InfoNCELoss', temperature=0.1),
    contrastive_weight=0.3,
    # official: InfoNCE on the class token of a second, unmasked ground
    # forward (the reconstruction uses the masked one); ~2x the step time
    # of the tiny config. False: the masked forward's token (one pass).
    unmasked_contrastive=True,
)

max_epochs = 40
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=4,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 4, by_epoch=True,
         begin=4, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1,
                    save_best=None))
custom_hooks = []
auto_scale_lr = dict(base_batch_size=32)

# Fine-tune a ViT-B/32 classifier on CUB-200-2011 (384 px) from a BirdSAT
# checkpoint. The classifier's backbone is MMPretrain's VisionTransformer;
# the ground encoder of CVE-MAE / CVM-MAE (BirdSATViT / CVMMAEViT) has the
# same keys under `backbone.`, so `prefix='backbone.'` maps them one to one
# (meta_embed.*, sat_patch_embed.*, view_embed, the decoders, the
# satellite encoder and the matching head are ignored). Set `checkpoint`
# to your pre-training checkpoint, e.g.
#   work_dirs/cvemae_vit-b-p32_cv-inat21/epoch_200.pth
# MAE fine-tuning recipe: AdamW, layer-wise lr decay 0.65, 100 epochs.
_base_ = [
    '../_base_/datasets/cub_384.py',
    '../_base_/default_runtime.py',
]

pretrained = 'work_dirs/cvemae_vit-b-p32_cv-inat21/epoch_200.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='b',
        img_size=384,
        patch_size=32,
        drop_path_rate=0.1,
        out_type='cls_token',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=200,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
)

train_dataloader = dict(batch_size=32)
max_epochs = 100
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=5e-4 * 32 / 256, betas=(0.9, 0.999),
        weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6,
         by_epoch=True, begin=5, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

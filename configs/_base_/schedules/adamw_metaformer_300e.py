# MetaFormer recipe (Diao et al. 2022): AdamW (lr 5e-4 for a total batch of
# 512, scaled by auto_scale_lr), weight decay 0.05 (none on norms, biases,
# class tokens and position-bias tables), 20 linear warm-up epochs then
# cosine to 5e-6 at 300 epochs, gradient clipping at 5. Label smoothing 0.1,
# mixup 0.8 / cutmix 1.0 and RandAugment m9 are set in the configs.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=5e-4, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'cls_tokens': dict(decay_mult=0.0),
            'rel_pos_bias_table': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=280, eta_min=5e-6, by_epoch=True,
         begin=20, end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)

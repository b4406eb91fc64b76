# SGD schedule for fine-tuning an ImageNet-pretrained CNN on a FGVC dataset.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True),
    # the freshly initialised head learns 10x faster
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, by_epoch=True, begin=5,
         end=100),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr above is for a total batch of 16 (e.g. 1 GPU x 16)
auto_scale_lr = dict(base_batch_size=16)

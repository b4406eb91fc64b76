# Short CPU schedule for SynthBirds (randomly initialised small CNNs).
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=0,
         end=30),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

# Attribute-conditioned CVAE on SynthBirds at 32 px, bird-box crops (CPU,
# minutes).
# Image-level attributes (28 for SynthBirds, 312 for CUB) with the CUB
# certainty filter: attributes marked "not visible" (certainty 1) become 0.5.
_base_ = ['../../../configs/_base_/default_runtime.py']

custom_imports = dict(
    imports=['projects.attr_cvae.attr_cvae'], allow_failed_imports=False)

dataset_type = 'SynthBirds'
data_root = 'data/synthbirds'
gen_cfg = dict(
    num_classes=10, images_per_class=60, image_size=128, seed=0,
    difficulty='easy')
image_size = 32

model = dict(
    type='AttributeCVAE',
    num_attributes=28,
    image_size=image_size,
    latent_dim=32,
    base_channels=32,
    beta=1.0,
    likelihood='bernoulli',
    attribute_source='image',
    min_certainty=2)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop', margin=0.1),  # the bird fills the frame
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='PackFGInputs', algorithm_keys=('attribute_certainty', )),
]
test_pipeline = train_pipeline

_data = dict(
    type=dataset_type, data_root=data_root, gen_cfg=gen_cfg,
    with_attributes=True, with_parts=False, pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(split='train', **_data),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(split='val', **_data),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(split='test', **_data),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='ELBOMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30,
                 val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=30, by_epoch=True, eta_min=1e-4)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=1,
        save_best='cvae/elbo', rule='greater'))

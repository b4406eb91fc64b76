# ProtoPNet, ResNet-34, on bounding-box-cropped CUB (the paper's setting,
# reported 79.2% top-1). Everything as protopnet_r34_cub.py; the images are
# cropped to their box on the fly (train, push and test).
_base_ = ['./protopnet_r34_cub.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop'),
    dict(type='Resize', scale=(224, 224)),
    {{_base_.protopnet_augment}},
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
push_dataloader = dict(
    batch_size=75,
    num_workers=4,
    dataset=dict(
        type='CUB',
        data_root='data/CUB_200_2011',
        split='train',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
custom_hooks = [
    dict(type='NumClassesCheckHook'),
    # the official warm-up freezes the backbone's weights but trains in
    # model.train(): its BatchNorm statistics keep adapting to the data
    dict(
        type='FreezeModulesHook',
        modules=['backbone'],
        until_epoch=5,
        eval_mode=False),
    dict(
        type='PrototypePushHook',
        dataloader=push_dataloader,
        start=10,
        interval=10,
        last_layer_epochs=20,
        last_layer_lr=1e-4,
        percentile=95.),
    dict(type='PrototypeStabilityHook', std=0.2, clip=0.25),
]

# ProtoPNet on "cropped SynthBirds": every image cropped to its bird's
# bounding box (+10 % margin) on the fly with BBoxCrop, the protocol of the
# ProtoPNet paper (trained and tested on bbox-cropped CUB). Parts and boxes
# are mapped through the crop, so the part-localisation metrics stay exact.
#
#   python tools/train.py \
#       configs/protopnet/resnet18-half_synthbirds-cropped_backbone.py
#   python tools/train.py configs/protopnet/protopnet_r18_synthbirds-cropped.py
#   python tools/test.py \
#       configs/protopnet/protopnet_r18_synthbirds-cropped.py \
#       work_dirs/protopnet_r18_synthbirds-cropped/epoch_20.pth
_base_ = ['./protopnet_r18_synthbirds.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop', margin=0.1),
    dict(type='Resize', scale=(112, 112)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop', margin=0.1),
    dict(type='Resize', scale=(112, 112)),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint='work_dirs/resnet18-half_synthbirds-cropped_backbone/'
            'epoch_20.pth')))

# the push set sees the same crops (training images, test pipeline)
push_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type='SynthBirds',
        data_root={{_base_.data_root}},
        gen_cfg={{_base_.gen_cfg}},
        split='train',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='FreezeModulesHook', modules=['backbone'], until_epoch=2),
    dict(
        type='PrototypePushHook',
        dataloader=push_dataloader,
        push_epochs=[10, 20],
        last_layer_epochs=2,
        last_layer_lr=1e-3),
    dict(type='PrototypeStabilityHook', std=0.2, clip=0.25),
]

# Attribute-conditioned CVAE on CUB-200-2011 at 64 px: the 312 image-level
# attributes, keeping those marked at least "probably" (certainty >= 3).
# GPU recommended; data_root is the CUB_200_2011 folder.
_base_ = ['./attr-cvae_conv_synthbirds.py']

dataset_type = 'CUB'
data_root = 'data/CUB_200_2011'
image_size = 64
model = dict(num_attributes=312, image_size=image_size, latent_dim=64,
             base_channels=64, min_certainty=3)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop', margin=0.1),
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='PackFGInputs', algorithm_keys=('attribute_certainty', )),
]
_data = dict(
    _delete_=True, type=dataset_type, data_root=data_root,
    with_attributes=True, with_parts=False, pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=64, num_workers=4, dataset=dict(split='train', **_data))
val_dataloader = dict(
    batch_size=128, num_workers=4, dataset=dict(split='val', **_data))
test_dataloader = dict(
    batch_size=128, num_workers=4, dataset=dict(split='test', **_data))
train_cfg = dict(max_epochs=200, val_interval=20)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, eta_min=1e-5)
]

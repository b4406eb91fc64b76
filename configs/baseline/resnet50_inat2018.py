_base_ = [
    '../_base_/models/resnet50_linear.py',
    '../_base_/datasets/inat2018_224.py',
    '../_base_/schedules/sgd_fgvc_100e.py',
    '../_base_/default_runtime.py',
]

# ImageNet-pretrained weights from a local file (nothing is downloaded):
# e.g. pretrained = 'checkpoints/resnet50_8xb32_in1k_20210831-ea4938fc.pth'
pretrained = None

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    head=dict(num_classes=8142),
)

# The official val split is also the reported split (the test labels are
# not public): report the last checkpoint, select nothing on it.
default_hooks = dict(checkpoint=dict(save_best=None))

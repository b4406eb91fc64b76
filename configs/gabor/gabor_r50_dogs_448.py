# ResNet-50 + Gabor texture branch (ICCV 2023) = ../baseline/resnet50_dogs.py
# (same data, schedule, head) + GaborTextureNeck with its defaults (32
# filters, K = 11, 8 histogram levels, 112-px base windows at scales 1, 1.5,
# 2 of the 448 input, gate on CNN activation + texture). Ablations:
# --cfg-options model.neck.learnable_filters=False (or frequency_split /
# histogram / correlation). See README.md.
_base_ = ['../baseline/resnet50_dogs.py']

model = dict(
    type='ImageNeckClassifier',
    neck=dict(type='GaborTextureNeck', in_channels=2048, zoom_size=112,
              gabor_stride=2))  # histogram on 56 x 56 responses per region
# the branch trains from scratch, jointly, at the head's rate
optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys=dict(head=dict(lr_mult=10.), neck=dict(lr_mult=10.))))

# ResNet-50 + RBI (arXiv 2412.19606) = ../baseline/resnet50_dogs.py (same
# data, schedule, head) + RBINeck. Training relates the images of each GPU's
# batch (relation_scope='local'; 'global': the whole global batch under
# DDP). At test each image attends to itself and a bank of training
# features, so predictions do not depend on the test batch
# (test_mode='memory', memory_size = relation-set size - 1: 15 for
# 1 GPU x 16). transductive=True would use the test batch. See README.md.
_base_ = ['../baseline/resnet50_dogs.py']

model = dict(
    type='ImageNeckClassifier',
    neck=dict(type='RBINeck', in_channels=2048, memory_size=15))
optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys=dict(head=dict(lr_mult=10.), neck=dict(lr_mult=10.))))

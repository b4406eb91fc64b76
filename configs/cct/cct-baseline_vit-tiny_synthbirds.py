# Baseline for configs/cct/cct_vit-tiny_synthbirds.py: the same ViT and
# schedule with a linear head on the class token (no concepts).
_base_ = ['./cct_vit-tiny_synthbirds.py']

model = dict(
    backbone=dict(out_type='cls_token'),
    head=dict(
        _delete_=True,
        type='LinearClsHead',
        num_classes=10,
        in_channels=96,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
val_evaluator = [dict(type='Accuracy', topk=(1, ))]
test_evaluator = val_evaluator

# Concept-Centric Transformer on CUB-200-2011 with attribute supervision:
# ViT-S/16 (DeiT-small layout, 384-d, 12 blocks) at 224 px -> 14x14 patches,
# the 112 CBM attributes (concept_mapping 'cub_cbm112': 11 global concepts
# over the class token, 101 spatial concepts located by the part keypoints),
# loss NLL + 1.0 * explanation + 0.5 * sparsity, AdamW 1e-5, weight decay
# 1e-3, 50 epochs (the paper's recipe; it fine-tunes ImageNet weights).
# 'cub_ct108' gives the official code's 13 global + 95 spatial concepts.
_base_ = [
    '../_base_/datasets/cub_224.py',
    '../_base_/default_runtime.py',
]

# ImageNet weights from a local file (nothing is downloaded), e.g. the
# MMPretrain DeiT-small checkpoint:
# pretrained = 'checkpoints/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'
pretrained = None
concept_mapping = 'cub_cbm112'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='raw',
        with_cls_token=True,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')
        if pretrained else None),
    head=dict(
        type='CCTHead',
        num_classes=200,
        in_channels=384,
        concept_mapping=concept_mapping,
        num_heads=12,
        attn_drop=0.1,
        proj_drop=0.1,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        expl_loss=dict(type='ConceptExplanationLoss', loss_weight=1.0),
        sparsity_loss=dict(type='ConceptSparsityLoss', loss_weight=0.5),
        topk=(1, 5)),
)

# attributes and part keypoints travel in the DataSample
train_dataloader = dict(batch_size=16, dataset=dict(with_attributes=True))
val_dataloader = dict(dataset=dict(with_attributes=True))
test_dataloader = dict(dataset=dict(with_attributes=True))
val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='ConceptAttributeMetric', concept_mapping=concept_mapping),
]
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-5, weight_decay=1e-3))
# 10 warm-up epochs then cosine, as the official CUB runs
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
         end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=40, by_epoch=True, begin=10,
         end=50),
]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=50))

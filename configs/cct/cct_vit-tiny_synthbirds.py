# Concept-Centric Transformer on SynthBirds (CPU, a few minutes): a small
# randomly initialised ViT (patch 16 at 112 px: 7x7 patches), its 28 part
# attributes as 28 global + 28 spatial concepts (concept_mapping
# 'synthbirds'), loss NLL + 1.0 * explanation + 0.5 * sparsity.
_base_ = [
    '../_base_/datasets/synthbirds.py',
    '../_base_/default_runtime.py',
]

concept_mapping = 'synthbirds'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=96, num_layers=4, num_heads=3,
            feedforward_channels=384),
        img_size=112,
        patch_size=16,
        out_type='raw',
        with_cls_token=True,
        drop_path_rate=0.),
    head=dict(
        type='CCTHead',
        num_classes=10,
        in_channels=96,
        concept_mapping=concept_mapping,
        num_heads=3,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        expl_loss=dict(type='ConceptExplanationLoss', loss_weight=1.0),
        sparsity_loss=dict(type='ConceptSparsityLoss', loss_weight=0.5)),
)

# attributes (and the default part keypoints) travel in the DataSample
train_dataloader = dict(dataset=dict(with_attributes=True))
val_dataloader = dict(dataset=dict(with_attributes=True))
test_dataloader = dict(dataset=dict(with_attributes=True))
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='ConceptAttributeMetric', concept_mapping=concept_mapping),
]
test_evaluator = val_evaluator

# From scratch, so a larger learning rate than the paper's fine-tuning 1e-5.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-3),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=77, by_epoch=True, begin=3,
         end=80),
]
train_cfg = dict(by_epoch=True, max_epochs=80, val_interval=20)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=5))

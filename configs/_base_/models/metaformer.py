# MetaFormer classifier with meta tokens (set backbone.arch / img_size /
# meta_dims and the head in the config) and the paper's RandAugment (m9),
# used in the train pipelines as {{_base_.rand_augment}}.
model = dict(
    type='MetaImageClassifier',
    zero_meta_eval=True,
    backbone=dict(
        type='MetaFormer', arch='1', img_size=384, drop_path_rate=0.1),
    head=dict(
        type='LinearClsHead',
        num_classes=200,
        in_channels=768,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5),
        cal_acc=False),
)
rand_augment = dict(
    type='RandAugment',
    policies='timm_increasing',
    num_policies=2,
    total_level=10,
    magnitude_level=9,
    magnitude_std=0.5,
    hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic'))
# Mixup 0.8 / CutMix 1.0, for data_preprocessor.batch_augments.
mix_augments = dict(augments=[
    dict(type='Mixup', alpha=0.8),
    dict(type='CutMix', alpha=1.0),
])
# Test reports with meta (meta/...) and with zeroed meta (zero_meta/...).
meta_evaluator = [
    dict(type='Accuracy', topk=(1, 5), prefix='meta'),
    dict(type='ScoreKeyMetric', metric=dict(type='Accuracy', topk=(1, 5)),
         score_key='pred_score_zero_meta', prefix='zero_meta'),
]
meta_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='MetaDropoutScheduleHook', start_prob=1.0, end_prob=0.0),
]

# The single-member control of dmml_r18_synthbirds.py: the same member
# (seed 0), data, views, triplet loss and schedule, trained alone (no
# cohort, so no relational transfer).
_base_ = ['./dmml_r18_synthbirds.py']

model = dict(
    num_members=1, seeds=(0, ), update_intervals=1, ema_momentum=None)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1,
         transforms=[{{_base_.view_pipeline}}]),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = [
    dict(type='RetrievalMetric', topk=(1, 2, 4, 8), distance='l2',
         embedding_key='embedding_0', prefix='member0')
]
test_evaluator = val_evaluator

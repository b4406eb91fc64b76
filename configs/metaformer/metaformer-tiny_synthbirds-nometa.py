# The no-meta twin of metaformer-tiny_synthbirds-meta.py: same data, same
# pipeline, same schedule; the backbone has no meta tokens.
_base_ = ['./metaformer-tiny_synthbirds-meta.py']

model = dict(zero_meta_eval=False, backbone=dict(meta_dims=None))
val_evaluator = dict(type='Accuracy', topk=(1, ), _delete_=True)
test_evaluator = val_evaluator
custom_hooks = [dict(type='NumClassesCheckHook')]
default_hooks = dict(checkpoint=dict(save_best='auto'))

# Style 3 — an MMPretrain config (default_scope='mmpretrain') that pulls in
# mmfg through `custom_imports` and names mmfg types with the `mmfg.` prefix.
_base_ = 'mmpretrain::resnet/resnet50_8xb8_cub.py'
custom_imports = dict(imports=['mmfg.models', 'mmfg.datasets',
                               'mmfg.engine'], allow_failed_imports=False)

train_dataloader = dict(dataset=dict(type='mmfg.CUB', split='train'))
val_dataloader = dict(dataset=dict(type='mmfg.CUB', split='val'))
test_dataloader = dict(dataset=dict(type='mmfg.CUB', split='test'))
custom_hooks = [dict(type='mmfg.NumClassesCheckHook')]

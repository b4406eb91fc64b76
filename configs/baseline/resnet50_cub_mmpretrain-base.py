# Style 2 — inherit an unmodified MMPretrain config and override a part with
# mmfg components: MMPretrain's ResNet-50 CUB recipe, but with mmfg's CUB
# (held-out `val` split instead of selecting checkpoints on `test`; boxes and
# parts carried) and mmfg's packer. With default_scope='mmfg', MMPretrain's
# own types (ResNet, ImageClassifier, Accuracy, ...) still resolve. Dicts
# that come from an `mmpretrain::` base carry `_scope_='mmpretrain'`;
# `_scope_='mmfg'` below makes the dataset (and its pipeline) resolve mmfg's
# types first.
_base_ = 'mmpretrain::resnet/resnet50_8xb8_cub.py'
default_scope = 'mmfg'

train_dataloader = dict(
    dataset=dict(type='CUB', split='train', _scope_='mmfg'))
val_dataloader = dict(dataset=dict(type='CUB', split='val', _scope_='mmfg'))
test_dataloader = dict(dataset=dict(type='CUB', split='test', _scope_='mmfg'))
custom_hooks = [dict(type='NumClassesCheckHook')]

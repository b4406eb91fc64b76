# FGVC-Aircraft (variant level) at 448 px (the recipe of fgvc_448.py).
_base_ = ['./fgvc_448.py']

dataset_type = 'FGVCAircraft'
data_root = 'data/fgvc_aircraft'
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))

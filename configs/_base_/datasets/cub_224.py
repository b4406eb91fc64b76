# CUB-200-2011 at 224 px (prototype networks; fgvc_224.py).
_base_ = ['./fgvc_224.py']

dataset_type = 'CUB'
data_root = 'data/CUB_200_2011'
data_preprocessor = dict(num_classes=200)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))

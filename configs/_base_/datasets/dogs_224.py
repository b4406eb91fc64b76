# Stanford Dogs at 224 px (prototype networks; fgvc_224.py).
_base_ = ['./fgvc_224.py']

dataset_type = 'StanfordDogs'
data_root = 'data/stanford_dogs'
data_preprocessor = dict(num_classes=120)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))

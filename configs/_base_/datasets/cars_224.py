# Stanford Cars at 224 px (prototype networks; fgvc_224.py).
_base_ = ['./fgvc_224.py']

dataset_type = 'StanfordCars'
data_root = 'data/stanford_cars'
data_preprocessor = dict(num_classes=196)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))

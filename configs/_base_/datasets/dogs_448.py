# Stanford Dogs at 448 px (the recipe of fgvc_448.py).
_base_ = ['./fgvc_448.py']

dataset_type = 'StanfordDogs'
data_root = 'data/stanford_dogs'
data_preprocessor = dict(num_classes=120)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))

# DMML on Stanford Cars class-disjoint retrieval (classes 1-98 train: 8,054
# images; 99-196 test: 8,131): three ResNet-50 + 512-d members, everything
# else as dmml_r50_cub.py.
#   python tools/train.py configs/dmml/dmml_r50_cars.py
#   python tools/test.py configs/dmml/dmml_r50_cars.py CKPT
_base_ = ['./dmml_r50_cub.py']

dataset_type = 'StanfordCars'
data_root = 'data/stanford_cars'
data_preprocessor = dict(num_classes=98)
_data = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(dataset=_data)
test_dataloader = dict(dataset=_data)
val_dataloader = test_dataloader

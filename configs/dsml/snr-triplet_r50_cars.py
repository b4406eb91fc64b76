# DSML triplet (SNR distance) on Stanford Cars class-disjoint retrieval
# (classes 1-98 train: 8,054 images; 99-196 test: 8,131), everything else as
# the CUB config.
_base_ = ['./snr-triplet_r50_cub.py']

dataset_type = 'StanfordCars'
data_root = 'data/stanford_cars'
data_preprocessor = dict(num_classes=98)
_data = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(dataset=_data)
test_dataloader = dict(dataset=_data)
val_dataloader = test_dataloader

# iNaturalist 2021 at 224 px: the recipe of inat2018_224.py (the official
# val set for validation and testing) on the 2021 release.
_base_ = ['./inat2018_224.py']

data_root = 'data/inat2021'
data_preprocessor = dict(num_classes=10000)

train_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='train.json'))
val_dataloader = dict(dataset=dict(data_root=data_root, ann_file='val.json'))
test_dataloader = dict(dataset=dict(data_root=data_root, ann_file='val.json'))

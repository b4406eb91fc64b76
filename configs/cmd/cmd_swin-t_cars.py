# CMD on Stanford Cars: the CUB recipe (cmd_swin-t_cub.py) on Cars images.
_base_ = ['./cmd_swin-t_cub.py']

dataset_type = 'StanfordCars'
data_root = 'data/stanford_cars'
train_split = 'trainval'

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split=train_split))
ssl_eval = dict(
    train=dict(type=dataset_type, data_root=data_root, split=train_split),
    test=dict(type=dataset_type, data_root=data_root, split='test'))

# CMD on FGVC-Aircraft: the CUB recipe (cmd_swin-t_cub.py) on Aircraft
# images (the official train+val images, no labels used for training).
_base_ = ['./cmd_swin-t_cub.py']

dataset_type = 'FGVCAircraft'
data_root = 'data/fgvc_aircraft'
train_split = 'trainval'

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split=train_split))
ssl_eval = dict(
    train=dict(type=dataset_type, data_root=data_root, split=train_split),
    test=dict(type=dataset_type, data_root=data_root, split='test'))

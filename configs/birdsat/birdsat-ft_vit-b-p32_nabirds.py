# Fine-tune a ViT-B/32 classifier on NABirds (555 classes, 384 px) from a
# BirdSAT checkpoint; same key mapping and recipe as
# birdsat-ft_vit-b-p32_cub.py (layout: docs/datasets.md).
_base_ = ['./birdsat-ft_vit-b-p32_cub.py']

data_preprocessor = dict(num_classes=555)
model = dict(head=dict(num_classes=555))
_data = dict(type='NABirds', data_root='data/nabirds')
train_dataloader = dict(dataset=_data)
val_dataloader = dict(dataset=_data)
test_dataloader = dict(dataset=_data)

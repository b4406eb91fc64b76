# Stanford Cars for deep metric learning (class-disjoint protocol): train on
# all images of classes 1-98 (8,054), retrieve among all images of classes
# 99-196 (8,131), each query excluded from its own gallery; pipelines,
# batches (16 classes x 4 images) and metric as cub_retrieval_224.py.
_base_ = ['./cub_retrieval_224.py']

dataset_type = 'StanfordCars'
data_root = 'data/stanford_cars'
data_preprocessor = dict(num_classes=98)
_data = dict(type=dataset_type, data_root=data_root)
train_dataloader = dict(dataset=_data)
test_dataloader = dict(dataset=_data)
val_dataloader = test_dataloader

# ProtoPNet, ResNet-34, on Stanford Cars (196 classes, 224 px): 1960
# prototypes (10 per class), otherwise the CUB recipe of
# ./protopnet_r34_cub.py (the paper reports 91.4% for its combined model).
# Cars has no part annotations: accuracy and explanation sparsity only. The
# push set is the training split through the test pipeline (the push hook's
# default).
#
#   python tools/train.py configs/protopnet/protopnet_r34_cars.py
_base_ = ['./protopnet_r34_cub.py']

_cars = dict(type='StanfordCars', data_root='data/stanford_cars')
train_dataloader = dict(dataset=_cars)
val_dataloader = dict(dataset=_cars)
test_dataloader = dict(dataset=_cars)
push_dataloader = None  # the CUB one of the base is not used here
data_preprocessor = dict(num_classes=196)
model = dict(head=dict(num_classes=196))

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    # the official warm-up freezes the backbone's weights but trains in
    # model.train(): its BatchNorm statistics keep adapting to the data
    dict(
        type='FreezeModulesHook',
        modules=['backbone'],
        until_epoch=5,
        eval_mode=False),
    dict(
        type='PrototypePushHook',
        start=10,
        interval=10,
        last_layer_epochs=20,
        last_layer_lr=1e-4),
]
test_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='ExplanationSparsity', mass=0.9),
]

# ST-ProtoPNet, ResNet-34, on Stanford Dogs (120 classes, 224 px): the CUB
# recipe of ./stprotopnet_r34_cub.py with 600 prototypes per branch (5 per
# class) and the official Dogs settings: backbone lr 1e-5, weight decay
# 5e-4, StepLR(10, 0.2). Dogs has no part annotations: accuracy and
# explanation sparsity only. The push set is the training split through the
# test pipeline (the push hook's default).
#
#   python tools/train.py configs/st_protopnet/stprotopnet_r34_dogs.py
_base_ = ['./stprotopnet_r34_cub.py']

_dogs = dict(type='StanfordDogs', data_root='data/stanford_dogs')
train_dataloader = dict(dataset=_dogs)
val_dataloader = dict(dataset=_dogs)
test_dataloader = dict(dataset=_dogs)
push_dataloader = None  # the CUB one of the base is not used here
data_preprocessor = dict(num_classes=120)
model = dict(head=dict(num_classes=120))

optim_wrapper = dict(
    optimizer=dict(weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1 / 300)}))
param_scheduler = [
    dict(type='StepLR', by_epoch=True, begin=10, step_size=10, gamma=0.2)
]
custom_hooks = [
    dict(type='NumClassesCheckHook'),
    # the official warm-up freezes the backbone's weights but trains in
    # model.train(): its BatchNorm statistics keep adapting to the data
    dict(
        type='FreezeModulesHook',
        modules=['backbone'],
        until_epoch=10,
        eval_mode=False),
    dict(type='PrototypeRenormHook'),
    dict(
        type='PrototypePushHook',
        push_epochs=[100, 110, 120],
        last_layer_epochs=10,
        last_layer_lr=1e-4),
]
test_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='ExplanationSparsity', mass=0.9),
]

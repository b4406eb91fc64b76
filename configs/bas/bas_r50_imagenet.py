# BAS, ResNet-50, ILSVRC 2012 in wsolevaluation's metadata layout
# (metadata/ILSVRC/{train,val,test}: train = ILSVRC train, val = ImageNetV2
# with boxes for choosing tau / checkpoints, test = ILSVRC val). The paper's
# ILSVRC recipe: (alpha, beta) = (1, 2), batch 128, 9 epochs with a x0.1
# decay at epoch 3, the top-1 class map at test, threshold 0.25.
# Model as ./bas_r50_cub.py.
#
#   data/ILSVRC/{train,val}/...       images (wsolevaluation's prepare
#   data/wsolevaluation/metadata/ILSVRC/   imagenet script) and metadata
_base_ = ['./bas_r50_cub.py']

data_preprocessor = dict(num_classes=1000)

model = dict(
    topk=1,
    head=dict(
        num_classes=1000,
        loss_fg=dict(loss_weight=1.0),
        loss_area=dict(loss_weight=2.0)))

_data = dict(
    _delete_=True,
    type='WSOLMetadataDataset',
    data_root='data/ILSVRC',
    metadata_root='data/wsolevaluation/metadata/ILSVRC')
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        **_data, split='train', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    num_workers=8,
    dataset=dict(**_data, split='val', pipeline={{_base_.test_pipeline}}))
test_dataloader = dict(
    num_workers=8,
    dataset=dict(**_data, split='test', pipeline={{_base_.test_pipeline}}))

param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[3], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=9, val_interval=1)
auto_scale_lr = dict(base_batch_size=128)

val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='LocalizationMetric', threshold=0.25, topk=(1, 5)),
]
test_evaluator = val_evaluator

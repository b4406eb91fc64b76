# Low-dimensional target embedding on CUB-200-2011 (ResNet-50, 448 px): the
# baseline classifier (configs/baseline/resnet50_cub.py) with a 64-d
# regression to random-projection class codes instead of 200 logits.
# For eigen codes, build a codes file from a trained baseline
#   python tools/analysis_tools/build_class_codes.py \
#       --config configs/baseline/resnet50_cub.py --checkpoint CKPT \
#       --split train --out work_dirs/cub_codes.npz
# and train with
#   --cfg-options model.head.codes.type=eigen \
#                 model.head.codes.file=work_dirs/cub_codes.npz
_base_ = ['../baseline/resnet50_cub.py']

model = dict(
    head=dict(
        _delete_=True,
        type='TargetEmbeddingHead',
        num_classes=200,
        in_channels=2048,
        embed_dims=64,
        codes=dict(type='random', seed=0),
        loss=dict(type='CodeRegressionLoss', mode='mse'),
        distance='l2',
        topk=(1, )))

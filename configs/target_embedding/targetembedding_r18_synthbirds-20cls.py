# Low-dimensional target embedding on the 20-class SynthBirds: the one-hot
# baseline (onehot_r18_synthbirds-20cls.py) with its LinearClsHead replaced
# by an 8-d regression (MSE) to the normalised eigen-representation codes
# of a class similarity matrix (d = 8 < C = 20), decoded by the nearest
# code. Same backbone, data and schedule.
# The similarity matrix (class_codes/synthbirds-20cls_onehot-r18.npz) is the
# symmetrised mean softmax per class of the trained one-hot baseline on the
# train split, built by
#   python tools/analysis_tools/build_class_codes.py \
#       --config configs/target_embedding/onehot_r18_synthbirds-20cls.py \
#       --checkpoint work_dirs/onehot_r18_synthbirds-20cls/epoch_20.pth \
#       --split train --dims 8 --out \
#       configs/target_embedding/class_codes/synthbirds-20cls_onehot-r18.npz
# targetembedding-random_r18_synthbirds-20cls.py uses random projections.
_base_ = ['./onehot_r18_synthbirds-20cls.py']

model = dict(
    head=dict(
        _delete_=True,
        type='TargetEmbeddingHead',
        num_classes={{_base_.num_classes}},
        in_channels=256,
        embed_dims=8,
        codes=dict(
            type='eigen',
            file='configs/target_embedding/class_codes/'
            'synthbirds-20cls_onehot-r18.npz'),
        loss=dict(type='CodeRegressionLoss', mode='mse'),
        distance='l2',
        topk=(1, )))

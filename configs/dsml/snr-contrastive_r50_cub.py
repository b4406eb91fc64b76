# DSML with the contrastive loss under the SNR distance (positives pulled to
# 0, negatives pushed beyond the margin), hard pairs mined per anchor.
_base_ = ['./snr-triplet_r50_cub.py']

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='ContrastiveLoss',
            pos_margin=0.0,
            neg_margin=1.0,
            distance='snr',
            miner='hard')))

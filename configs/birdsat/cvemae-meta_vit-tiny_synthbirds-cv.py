# CVE-MAE with location/date meta on SynthBirds cross-view (CPU): as
# cvemae_vit-tiny_synthbirds-cv.py plus Linear(4->64) location and date
# embeddings added to the ground class token, whole-batch meta dropout 0.25.
_base_ = ['./cvemae_vit-tiny_synthbirds-cv.py']

model = dict(
    backbone=dict(meta_dims=dict(location=4, time=4), meta_drop_prob=0.25))

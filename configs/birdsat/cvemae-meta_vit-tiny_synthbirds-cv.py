# CVE-MAE with location/date meta on SynthBirds cross-view (CPU): as
# cvemae_vit-tiny_synthbirds-cv.py plus Linear(4->64) location and date
# embeddings added to the satellite encoder's output class token (official
# placement; the ground encoder never sees meta), whole-batch meta dropout
# 0.25. The old placement (meta on the ground encoder's input class token)
# is cvemae-meta-ground-input_vit-tiny_synthbirds-cv.py.
_base_ = ['./cvemae_vit-tiny_synthbirds-cv.py']

model = dict(
    meta_dims=dict(location=4, time=4),
    meta_drop_prob=0.25,
    meta_position='sat_output')

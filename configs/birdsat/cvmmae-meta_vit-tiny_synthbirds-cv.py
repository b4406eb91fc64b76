# CVM-MAE with location/date meta on SynthBirds cross-view (CPU): as
# cvmmae_vit-tiny_synthbirds-cv.py plus Linear(4->64) location and date
# embeddings added to the joint encoder's output class token before the
# matching head (a mismatched pair gets its tile's meta) and to the
# satellite class token for retrieval (official placement; the encoder
# input and the ground features are meta-free), whole-batch dropout 0.25.
_base_ = ['./cvmmae_vit-tiny_synthbirds-cv.py']

model = dict(
    meta_dims=dict(location=4, time=4),
    meta_drop_prob=0.25,
    meta_position='joint_output')

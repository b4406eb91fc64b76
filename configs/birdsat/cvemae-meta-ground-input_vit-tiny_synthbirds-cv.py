# CVE-MAE with meta, OLD placement (before 2026-11-28): the location/date
# embeddings are added to the ground encoder's input class token, so the
# ground features themselves depend on meta (not the official code). Kept
# to load and reproduce checkpoints of that placement; use
# cvemae-meta_vit-tiny_synthbirds-cv.py otherwise.
_base_ = ['./cvemae_vit-tiny_synthbirds-cv.py']

model = dict(
    backbone=dict(meta_dims=dict(location=4, time=4), meta_drop_prob=0.25),
    meta_position='ground_input',
    # old behaviour too: InfoNCE on the masked forward's class token
    unmasked_contrastive=False)

# CVM-MAE on SynthBirds cross-view (CPU, a few minutes): one joint 4-layer
# 64-d ViT over the visible ground (64 px, patch 8) and overhead (32 px,
# patch 8) tokens, mask 0.75 each, both reconstructed, pair-matching BCE.
_base_ = ['./cvemae_vit-tiny_synthbirds-cv.py']

_arch = dict(
    embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128)
_dec = dict(
    type='MAEPretrainDecoder',
    embed_dim=64,
    decoder_embed_dim=64,
    decoder_depth=1,
    decoder_num_heads=4)
_head = dict(
    type='MAEPretrainHead',
    norm_pix=True,
    patch_size=8,
    loss=dict(type='PixelReconstructionLoss', criterion='L2'))
model = dict(
    _delete_=True,
    type='CVMMAE',
    backbone=dict(
        type='CVMMAEViT',
        arch=_arch,
        img_size=64,
        patch_size=8,
        sat_img_size=32,
        sat_patch_size=8,
        mask_ratio=0.75,
        out_type='cls_token'),
    neck=dict(**_dec, num_patches=64, patch_size=8),
    head=_head,
    sat_neck=dict(**_dec, num_patches=16, patch_size=8),
    sat_head=_head,
    match_weight=1.0,
    neg_ratio=0.5,
    # official: matching on the joint class token of a second, unmasked
    # forward of the pairs (reconstruction: the masked one). False: the
    # masked forward's token (one pass).
    unmasked_match=True,
)

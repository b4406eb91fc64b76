# CVM-MAE on SynthBirds cross-view (CPU, a few minutes): one joint 4-layer
# 64-d ViT over the visible ground (64 px, patch 8) and overhead (32 px,
# patch 8) tokens, mask 0.75 each, both reconstructed (true pairs), and a
# pair-matching BCE over true and tile-rolled pairs (official pairing).
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
    # official pairing: reconstruct the B true pairs (masked forward); match
    # B true + B pairs with the tiles rolled by one on the joint class token
    # of an unmasked forward of those 2B pairs (README: "Official pairing";
    # about 1.5x the step of 'shift', mmfg's old in-batch shifts, which
    # also takes neg_ratio and unmasked_match=False).
    pair_mode='rolled',
    unmasked_match=True,
)

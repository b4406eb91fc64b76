# BirdSAT CVM-MAE pre-training on Cross-View iNat-2021 birds (paper setup):
# one joint ViT-B encoder over the visible tokens of the ground photo
# (patch 32 at 384 px) and the satellite tile (patch 16 at 224 px), each
# masked at 0.75; a decoder per view reconstructs it and a pair-matching
# head (BCE) tells the true pairs from pairs with the tiles rolled by one.
# Meta as the official code:
# Linear(4->768) location/date embeddings added to the joint encoder's
# output class token before the matching head (a rolled pair gets its
# tile's meta), whole-batch dropout 0.25; the encoder input is meta-free.
_base_ = ['./cvemae_vit-b-p32_cv-inat21.py']

model = dict(
    _delete_=True,
    type='CVMMAE',
    backbone=dict(
        type='CVMMAEViT',
        arch='b',
        img_size=384,
        patch_size=32,
        sat_img_size=224,
        sat_patch_size=16,
        mask_ratio=0.75,
        out_type='cls_token'),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=144,
        patch_size=32,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=32,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    sat_neck=dict(
        type='MAEPretrainDecoder',
        num_patches=196,
        patch_size=16,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16),
    sat_head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    match_weight=1.0,
    # official pairing (CVMMAEMeta.forward): reconstruct the B true pairs
    # (masked forward); match B true + B pairs with the tiles rolled by one
    # on the joint class token of an unmasked forward of those 2B pairs.
    # 'shift': mmfg's old in-batch shifts of half the rows.
    pair_mode='rolled',
    unmasked_match=True,
    meta_dims=dict(location=4, time=4),
    meta_drop_prob=0.25,
    meta_position='joint_output',
)

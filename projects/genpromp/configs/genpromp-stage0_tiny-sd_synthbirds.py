# GenPromp stage 0 (not in the paper) on SynthBirds with a tiny random
# Stable Diffusion (CPU): text-to-image training of the UNet and the text
# encoder on captions built from each image's generator scene ("a photo of
# a <body colour> bird on <background>", SynthBirdsCaptions), emulating the
# image-text pretraining GenPromp starts from, meant to make caption words
# attend to the image regions they describe (measured: the bird attends
# some token, but which one changes with the seed; see the README,
# "Stage 0"). Stage 1 then loads it.
#   python tools/train.py \
#       projects/genpromp/configs/genpromp-stage0_tiny-sd_synthbirds.py
_base_ = ['./genpromp-stage1_tiny-sd_synthbirds.py']

model = dict(stage='caption', train_text_encoder=True)
load_from = None

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.8, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='PackFGInputs',
        meta_keys=('sample_idx', 'img_path', 'img_id', 'ori_shape',
                   'img_shape', 'trans_mat', 'scale_factor', 'flip',
                   'flip_direction', 'texts')),
]
train_dataloader = dict(
    dataset=dict(
        type='SynthBirdsCaptions',
        caption_templates=('a photo of a {body} bird on {background}', ),
        pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-2))
# 24 epochs of 17 steps (~400 steps); no validation (stage 1 evaluates)
train_cfg = dict(by_epoch=True, max_epochs=24, val_interval=1000)
default_hooks = dict(
    checkpoint=dict(interval=24, max_keep_ckpts=1, save_best=None))

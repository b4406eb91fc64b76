# GenPromp stage 2 on CUB-200-2011 (callsys/GenPromp configs/cub_stage2.yml):
# the UNet fine-tunes on 0.5 * representative + 0.5 * discriminative
# embeddings; batch 2 x 32 accumulation, AdamW lr 5e-8, wd 1e-2, 600
# optimiser steps, from the stage-1 checkpoint. Inference: t in {0, 99} in
# one UNet call, 0.6 * rep + 0.4 * disc, attention heights 8 and 16,
# tau 0.23 (GT-known; the paper's Top-1 Loc also needs a classifier's
# predictions, not part of this model).
#   python tools/train.py \
#       projects/genpromp/configs/genpromp-stage2_sd-v1-4_cub.py
#   python tools/test.py \
#       projects/genpromp/configs/genpromp-stage2_sd-v1-4_cub.py \
#       work_dirs/genpromp-stage2_sd-v1-4_cub/iter_19200.pth
_base_ = ['./genpromp-stage1_sd-v1-4_cub.py']

model = dict(stage='unet', unet_gradient_checkpointing=True)
load_from = 'work_dirs/genpromp-stage1_sd-v1-4_cub/epoch_2.pth'

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-8, weight_decay=1e-2),
    accumulative_counts=32)
# 600 optimiser steps of 32 accumulated iterations
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=19200,
    val_interval=19200)
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(
        by_epoch=False, interval=6400, max_keep_ckpts=1, save_best=None))

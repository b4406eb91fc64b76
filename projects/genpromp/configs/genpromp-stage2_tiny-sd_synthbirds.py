# GenPromp stage 2 on SynthBirds (tiny random Stable Diffusion, CPU): the
# UNet trains on the eps-prediction loss conditioned on
# 0.5 * representative + 0.5 * discriminative embeddings, starting from the
# stage-1 checkpoint (learned class tokens).
#   python tools/train.py \
#       projects/genpromp/configs/genpromp-stage2_tiny-sd_synthbirds.py \
#       --cfg-options load_from=<stage-1 work dir>/epoch_3.pth
#   python tools/test.py \
#       projects/genpromp/configs/genpromp-stage2_tiny-sd_synthbirds.py \
#       <stage-2 work dir>/epoch_8.pth
_base_ = ['./genpromp-stage1_tiny-sd_synthbirds.py']

model = dict(stage='unet')
load_from = 'work_dirs/genpromp-stage1_tiny-sd_synthbirds/epoch_3.pth'

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-2))
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=8)
default_hooks = dict(
    checkpoint=dict(interval=8, max_keep_ckpts=1, save_best=None))

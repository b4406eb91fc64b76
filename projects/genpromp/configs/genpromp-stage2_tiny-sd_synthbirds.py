# GenPromp stage 2 on SynthBirds (tiny Stable Diffusion, CPU): the UNet
# fine-tunes on the eps-prediction loss conditioned on
# 0.5 * representative + 0.5 * discriminative embeddings, starting from the
# stage-1 checkpoint (learned class tokens). After stage 0 the UNet is the
# "pretrained" model, so stage 2 is a short low-lr nudge as in the paper
# (lr 1e-4, 2 epochs; lr 1e-3 for 8 epochs undid stage 0's gains, README).
#   python tools/train.py \
#       projects/genpromp/configs/genpromp-stage2_tiny-sd_synthbirds.py \
#       --cfg-options load_from=<stage-1 work dir>/epoch_3.pth
#   python tools/test.py \
#       projects/genpromp/configs/genpromp-stage2_tiny-sd_synthbirds.py \
#       <stage-2 work dir>/epoch_2.pth
_base_ = ['./genpromp-stage1_tiny-sd_synthbirds.py']

model = dict(stage='unet')
load_from = 'work_dirs/genpromp-stage1_tiny-sd_synthbirds/epoch_3.pth'

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-2))
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
default_hooks = dict(
    checkpoint=dict(interval=2, max_keep_ckpts=1, save_best=None))

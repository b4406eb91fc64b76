# GenPromp stage 1 on CUB-200-2011 with Stable Diffusion v1-4 (Zhao et al.,
# ICCV 2023; settings of callsys/GenPromp configs/cub.yml): one learnable
# token per class, initialised from the last word of the class name, trained
# on the eps-prediction loss of random template prompts; everything else is
# frozen. 512 px, batch 2 x 2 accumulation, AdamW lr 5e-5 scaled by the
# total batch (2e-4), 2 epochs. The paper trains one class at a time; here
# all classes train together (each row only gets its class's gradient; no
# weight decay, so absent classes' rows stay put).
#
# Set `sd_path` to a local diffusers copy of CompVis/stable-diffusion-v1-4:
#   huggingface-cli download CompVis/stable-diffusion-v1-4 \
#       --local-dir checkpoints/stable-diffusion-v1-4
#   python tools/train.py \
#       projects/genpromp/configs/genpromp-stage1_sd-v1-4_cub.py
_base_ = [
    '../../../configs/_base_/datasets/cub_224.py',
    '../../../configs/_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['projects.genpromp.genpromp'], allow_failed_imports=False)

sd_path = 'checkpoints/stable-diffusion-v1-4'

data_preprocessor = dict(
    num_classes=200, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
model = dict(
    type='GenPromp',
    num_classes=200,
    class_names='data/CUB_200_2011/classes.txt',
    pretrained_model_path=sd_path,
    data_preprocessor=data_preprocessor,
    stage='prompt',
    train_combine_ratio=0.5,
    test_combine_ratio=0.6,
    timesteps=(0, 99),
    attn_resolutions=(8, 16),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='ColorJitter',
        brightness=0.1,
        contrast=0.1,
        saturation=0.1,
        hue=0.1),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512)),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(
    batch_size=2, dataset=dict(split='train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=2, dataset=dict(pipeline=test_pipeline))

# the paper thresholds the map at 0.23 of its maximum (GT-known protocol)
val_evaluator = dict(type='LocalizationMetric', threshold=0.23, topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.0),
    accumulative_counts=2)
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_best=None))

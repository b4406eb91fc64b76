# ForgetMe: unlearn the bird from Stable Diffusion v1-4 by a rank-4 LoRA on
# the UNet, trained on inpainted backgrounds with one constant prompt (AdamW
# 1e-4, 3000 steps, as the paper). Needs a GPU and a local SD v1-4 folder
# (diffusers layout): set `sd_path`. Data: a ForgetMe folder written by
#   python projects/forgetme/tools/create_dataset.py data/synthbirds/images \
#       data/forgetme_synthbirds --segmenter oracle \
#       --mask-dir data/synthbirds/segmentations --size 512
_base_ = ['../../../configs/_base_/default_runtime.py']

custom_imports = dict(
    imports=['projects.forgetme.forgetme'], allow_failed_imports=False)

sd_path = 'checkpoints/stable-diffusion-v1-4'
data_root = 'data/forgetme_synthbirds'
image_size = 512
prompt = 'a photo of a bird'

model = dict(
    type='ForgetMeLoRA',
    pretrained_model_path=sd_path,
    prompt=prompt,
    lora_rank=4,
    strength=0.5,
    num_inference_steps=50)

train_pipeline = [
    dict(type='LoadForgetMeImages', scale=image_size),
    dict(type='PackForgetMeInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type='ForgetMeDataset',
        data_root=data_root,
        img_folder='background',
        pipeline=train_pipeline),
    sampler=dict(type='InfiniteSampler', shuffle=True),
)
test_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type='ForgetMeDataset',
        data_root=data_root,
        img_folder='original',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = dict(type='Entangled', mode='both')
val_dataloader = test_dataloader
val_evaluator = test_evaluator

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4,
                                        weight_decay=1e-2))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000,
                 val_interval=3000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = []

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1000,
        max_keep_ckpts=2, save_best=None))
log_processor = dict(by_epoch=False)

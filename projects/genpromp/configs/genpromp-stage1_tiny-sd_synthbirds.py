# GenPromp stage 1 on SynthBirds with a tiny random Stable Diffusion (CPU,
# minutes): only the 10 class-token embeddings train, on the eps-prediction
# loss of random template prompts "a photo of a <c>". It starts from the
# stage-0 checkpoint (caption pretraining of the UNet and text encoder);
# the class tokens start from the meta word 'bird' as trained there.
#   python tools/train.py \
#       projects/genpromp/configs/genpromp-stage0_tiny-sd_synthbirds.py
#   python tools/train.py \
#       projects/genpromp/configs/genpromp-stage1_tiny-sd_synthbirds.py
# (load_from=None trains stage 1 on the random tiny SD, the pre-stage-0
# recipe; then drop meta_words to use the bill words as before)
_base_ = [
    '../../../configs/_base_/datasets/synthbirds.py',
    '../../../configs/_base_/default_runtime.py',
    './_base_/genpromp_tiny-sd.py',
]

# class_names: the dataset's classes.txt (written when SynthBirds is
# generated; change it with data_root)
model = dict(
    stage='prompt',
    class_names='data/synthbirds/classes.txt',
    meta_words=['bird'] * 10)
load_from = 'work_dirs/genpromp-stage0_tiny-sd_synthbirds/epoch_24.pth'

# Stable Diffusion reads RGB images in [-1, 1]; 64 px -> 16 x 16 latents
data_preprocessor = dict(
    num_classes=10, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.8, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFGInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadMask', binarize_threshold=127),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackFGInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(with_mask=True, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=32,
    dataset=dict(with_mask=True, pipeline=test_pipeline))

# The sweep picks the best tau of each split ('oracle'); MaxBoxAccV2 does
# not depend on it. cam_curve_interval 0.01 keeps the CPU sweep short.
val_evaluator = dict(
    type='LocalizationMetric',
    threshold='oracle',
    cam_curve_interval=0.01,
    topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-3, weight_decay=0.0))
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=3)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=3, max_keep_ckpts=1, save_best=None))

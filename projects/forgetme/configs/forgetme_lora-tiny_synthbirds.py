# ForgetMe with tiny randomly initialised SD parts (UNet, VAE, CLIP text) at
# 64 px: runs on a CPU in minutes, for tests and the SynthBirds check. The
# numbers it gives show the pipeline, not the paper's quality.
_base_ = ['./forgetme_lora-sd14_synthbirds.py']

image_size = 64
tiny_components = dict(
    unet=dict(
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'),
        up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'),
        attention_head_dim=4,
        norm_num_groups=8),
    vae=dict(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32, 32),
        down_block_types=('DownEncoderBlock2D', ) * 3,
        up_block_types=('UpDecoderBlock2D', ) * 3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        scaling_factor=5.0),  # random-VAE latents have std ~0.2
    text_encoder=dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4),
    tokenizer=dict(words=['a', 'photo', 'of', 'bird'], model_max_length=16),
)
model = dict(
    pretrained_model_path=None,
    components=tiny_components,
    num_inference_steps=20)

train_pipeline = [
    dict(type='LoadForgetMeImages', scale=image_size),
    dict(type='PackForgetMeInputs'),
]
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    batch_size=8, **_loader, dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=8, **_loader, dataset=dict(pipeline=train_pipeline))
val_dataloader = test_dataloader
# 10x the paper's 1e-4: the tiny CPU runs are 100s of steps, not 3000
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_iters=200, val_interval=200)
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=200))

# A tiny randomly initialised Stable Diffusion (CLIP text encoder 32-d,
# VAE with 4x down-sampling, 2-level UNet with cross-attention at both
# levels) for CPU runs on SynthBirds: at 64 px the latent is 16 x 16 and
# the cross-attention maps are 16 x 16 and 8 x 8 (the paper's heights 16
# and 8 of SD v1-4 at 512 px). No weights are loaded.
custom_imports = dict(
    imports=['projects.genpromp.genpromp'], allow_failed_imports=False)

# SynthBirds words: templates' words are added automatically; the meta
# words are the last words of the class names (the bill shapes) unless
# model.meta_words sets them (the stage-0 recipe uses 'bird').
tiny_components = dict(
    unet=dict(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=('CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'),
        up_block_types=('CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'),
        attention_head_dim=8,
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
        sample_size=64,
        scaling_factor=5.0),  # random-VAE latents have std ~0.2
    text_encoder=dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2),
    tokenizer=dict(
        # + the SynthBirds caption words of stage 0 (CAPTION_WORDS of
        # projects/genpromp/genpromp/captions.py): body colours, 'bird',
        # backgrounds
        words=[
            'conebill', 'needlebill', 'hookbill', 'sicklebill', 'bird', 'on',
            'brown', 'grey', 'olive', 'tan', 'slate', 'buff', 'sky', 'haze',
            'leaves', 'grass', 'forest', 'bark', 'sand', 'rock', 'cloud'
        ],
        model_max_length=16),
)

model = dict(
    type='GenPromp',
    num_classes=10,
    class_names='data/synthbirds/classes.txt',
    components=tiny_components,
    stage='prompt',
    timesteps=(0, 99),
    attn_resolutions=(8, 16),
    train_combine_ratio=0.5,
    test_combine_ratio=0.6,
)

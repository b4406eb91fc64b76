# The half-width ResNet-18 of the SynthBirds prototype and localisation
# configs (ProtoPNet, ST-ProtoPNet, BAS): 32 base channels, last stage at
# stride 16 (256 channels, 7x7 latent patches at 112 px), started from the
# plain classifier trained by
# configs/protopnet/resnet18-half_synthbirds_backbone.py (which defines the
# same network without this init_cfg), standing in for the ImageNet weights
# the papers start from. Method configs add the classifier type and head
# (and override what differs, e.g. BAS's strides).
model = dict(
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        num_stages=4,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/resnet18-half_synthbirds_backbone/'
            'epoch_20.pth',
            prefix='backbone')))

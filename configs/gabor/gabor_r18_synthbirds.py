# ResNet-18 + Gabor texture branch on SynthBirds (CPU, minutes): the plain
# baseline ../baseline/resnet18_synthbirds.py (same data, schedule, head)
# with the Gabor texture neck. 112-px inputs: 28-px base windows at scales
# 1, 1.5, 2, each zoomed to 56 px and filtered at stride 2.
#
#   python tools/train.py configs/gabor/gabor_r18_synthbirds.py
#   python tools/test.py configs/gabor/gabor_r18_synthbirds.py \
#       work_dirs/gabor_r18_synthbirds/epoch_30.pth
_base_ = ['../baseline/resnet18_synthbirds.py']

model = dict(
    type='ImageNeckClassifier',
    neck=dict(
        type='GaborTextureNeck',
        in_channels=512,
        num_filters=32,
        kernel_size=11,
        num_levels=8,
        crop_ratio=0.25,
        scales=(1.0, 1.5, 2.0),
        zoom_size=56,
        gabor_stride=2,  # statistics on 28 x 28 responses per region
        gate_source='both'),
)

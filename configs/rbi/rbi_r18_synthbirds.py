# ResNet-18 + RBI on SynthBirds (CPU, minutes): the plain baseline
# ../baseline/resnet18_synthbirds.py (same data, schedule, head) with the
# batch relationship neck. Test-time: each image attends to itself and to a
# bank of 31 training features (batch-independent predictions; a batch of 32
# in training). The gate starting at 0 (layer_scale), centred values and
# detached batch-mates are what keep the neck from hurting this
# from-scratch model (README.md, "SynthBirds"); they are the defaults.
#
#   python tools/train.py configs/rbi/rbi_r18_synthbirds.py
#   python tools/test.py configs/rbi/rbi_r18_synthbirds.py \
#       work_dirs/rbi_r18_synthbirds/epoch_30.pth
_base_ = ['../baseline/resnet18_synthbirds.py']

model = dict(
    type='ImageNeckClassifier',
    neck=dict(
        type='RBINeck',
        in_channels=512,
        num_heads=8,
        rpe=True,
        psnr_size=16,
        relation_scope='local',
        test_mode='memory',
        memory_size=31,  # training batch 32 minus the image itself
        transductive=False,
        layer_scale=0.,
        center_values=True,
        detach_others=True),
)

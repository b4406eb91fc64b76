# ProtoTree on SynthBirds with a pretrained backbone, as in the paper (which
# starts from iNat2017 / ImageNet weights): the half-width ResNet-18 (last
# stage at stride 16, 256 channels, 7x7 latent patches) trained as a plain
# classifier by ../protopnet/resnet18-half_synthbirds_backbone.py -- the same
# start as protopnet_r18_synthbirds.py, so the two are like for like. The
# paper's optimiser split in miniature: the backbone's last block
# (layer4.1, the paper's layer4.2) at the tree's rate, the rest at 1/100
# (paper: 1e-5 vs 1e-3), and all but the last block frozen for the first 4
# of 40 epochs (paper: 30 of 100). Everything else (depth-4 tree, 15
# prototypes x 64, derivative-free leaves, prune 0.25 + projection, render)
# is prototree_r18_synthbirds.py. Numbers: configs/prototree/README.md.
#
#   python tools/train.py \
#       configs/protopnet/resnet18-half_synthbirds_backbone.py
#   python tools/train.py \
#       configs/prototree/prototree_r18-half-pretrained_synthbirds.py
#   python tools/test.py \
#       configs/prototree/prototree_r18-half-pretrained_synthbirds.py \
#       work_dirs/prototree_r18-half-pretrained_synthbirds/prototree_pruned_projected.pth
_base_ = ['./prototree_r18_synthbirds.py']

model = dict(
    backbone=dict(
        _delete_=True,
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
            prefix='backbone')),
    head=dict(in_channels=256))

# The longest matching key wins: 'backbone.layer4.1' overrides 'backbone'.
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.01),
            'backbone.layer4.1': dict(lr_mult=1.0),
            'head.add_on': dict(lr_mult=1.0),
            'head.prototypes': dict(lr_mult=1.0, decay_mult=0.0),
        }))

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(
        type='FreezeModulesHook',
        modules=[
            'backbone.conv1', 'backbone.bn1', 'backbone.layer1',
            'backbone.layer2', 'backbone.layer3', 'backbone.layer4.0'
        ],
        until_epoch=4),
    dict(type='ProtoTreeLeafUpdateHook'),
    dict(type='ProtoTreePruneProjectHook'),
    dict(type='ProtoTreeRenderHook'),
]

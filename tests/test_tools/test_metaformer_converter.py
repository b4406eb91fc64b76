"""Official MetaFormer checkpoint → mmfg: key renaming on a fake official
state dict, the off-by-one bias fix, and 224→384-style table resizing."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from mmfg.models.backbones.metaformer import (relative_position_index,
                                              resize_rel_pos_bias_table)
from mmfg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'metaformer_official2mmfg',
    osp.join(ROOT, 'tools/model_converters/metaformer_official2mmfg.py'))
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)

ARCH = dict(stem_channels=8, conv_channels=(8, 16), conv_depths=(1, 2),
            attn_channels=(16, 24), attn_depths=(2, 1), num_heads=2)
META = ('time', 'location')


def _model(img_size):
    return MODELS.build(
        dict(type='MetaImageClassifier',
             backbone=dict(type='MetaFormer', arch=ARCH, img_size=img_size,
                           meta_dims=dict(time=4, location=3)),
             head=dict(type='LinearClsHead', num_classes=5, in_channels=24)))


# mmfg name -> official name, written out independently of the converter
_BLOCK = {'attn.rel_pos_bias_table': 'attn.relative_position_bias_table',
          'ffn.fc1': 'mlp.fc1', 'ffn.fc2': 'mlp.fc2'}
_MB = {'expand_conv': '_expand_conv', 'expand_bn': '_bn0',
       'dw_conv': '_depthwise_conv', 'dw_bn': '_bn1',
       'se.reduce': '_se_reduce', 'se.expand': '_se_expand',
       'project_conv': '_project_conv', 'project_bn': '_bn2'}
_ENC = {'fc': '0', 'norm': '2', 'res.fc1': '3.w1', 'res.norm1': '3.norm_fn1',
        'res.fc2': '3.w2', 'res.norm2': '3.norm_fn2'}
_TOP = {'stem_norm': 'bn1', 'cls_tokens.0': 'cls_token_1',
        'cls_tokens.1': 'cls_token_2', 'cls_norm3': 'norm_1',
        'cls_norm4': 'norm_2', 'cls_proj.0.fc1': 'cl_1_fc.0.fc1',
        'cls_proj.0.fc2': 'cl_1_fc.0.fc2', 'cls_proj.1': 'cl_1_fc.1',
        'cls_fuse': 'aggregate', 'out_norm': 'norm'}


def official_name(key):
    if key.startswith('head.fc.'):
        return 'head.' + key[len('head.fc.'):]
    key = key[len('backbone.'):]
    if key.startswith('stem.'):
        return 'stage_0.' + key[5:]
    parts = key.split('.')
    if parts[0] == 'stages' and parts[1] in '01':
        mod = '.'.join(parts[3:-1])
        return (f'stage_{int(parts[1]) + 1}.{parts[2]}.{_MB[mod]}.'
                f'{parts[-1]}')
    if parts[0] == 'stages':
        s = int(parts[1]) + 1
        if parts[2] == 'downsample':
            sub = 'proj' if parts[3] == 'conv' else 'norm'
            return f'stage_{s}.0.patch_embed.{sub}.{parts[4]}'
        rest = '.'.join(parts[4:])
        for ours, theirs in _BLOCK.items():
            if rest.startswith(ours):
                rest = theirs + rest[len(ours):]
        return f'stage_{s}.{parts[3]}.{rest}'
    if parts[0] == 'meta_encoders':
        k = META.index(parts[2]) + 1
        mod = '.'.join(parts[3:-1])
        return f'meta_{k}_head_{int(parts[1]) + 1}.{_ENC[mod]}.{parts[-1]}'
    for ours, theirs in _TOP.items():
        if key == ours or key.startswith(ours + '.'):
            return theirs + key[len(ours):]
    raise AssertionError(key)


def fake_official(model):
    """Random official-format weights for ``model``'s architecture."""
    torch.manual_seed(0)
    sd = {}
    for key, value in model.state_dict().items():
        name = official_name(key)
        if name.endswith('relative_position_bias_table'):
            value = torch.randn(value.shape[0] - 2, value.shape[1])
            # the index buffer the official code also saves
            sd[name.replace('bias_table', 'index')] = torch.zeros(1)
        elif value.is_floating_point():
            value = torch.randn_like(value)
        sd[name] = value
    return sd


def test_renaming_loads_strictly_and_keeps_every_tensor():
    model = _model(64)
    official = fake_official(model)
    out = conv.convert_metaformer(official, META)
    model.load_state_dict(out, strict=True)
    for key, value in model.state_dict().items():
        src = official[official_name(key)]
        if key.endswith('rel_pos_bias_table'):
            assert torch.equal(value[:-3], src[:-1])
        else:
            assert torch.equal(value, src), key
    with pytest.raises(KeyError, match='unknown'):
        conv.rename_key('stage_9.0.foo.weight')
    with pytest.raises(KeyError, match='--meta-names'):
        conv.rename_key('meta_1_head_1.0.weight', ())


def test_converted_bias_is_the_official_bias():
    """The official index pads class/meta pairs with 0; the converted model
    gives every pair exactly the official bias."""
    model = _model(64).eval()
    official = fake_official(model)
    model.load_state_dict(conv.convert_metaformer(official, META))
    attn = model.backbone.stages[2].blocks[1].attn
    table = official['stage_3.1.attn.relative_position_bias_table']
    h, w, e = 4, 4, 3  # 64 / 16; class + time + location tokens
    index = F.pad(relative_position_index((h, w), 0), (e, 0, e, 0))
    expected = table[index].permute(2, 0, 1)
    assert torch.equal(attn.rel_pos_bias((h, w), e), expected)


def test_bias_tables_resized_to_the_new_input_size():
    model = _model(64)
    official = fake_official(model)
    out = conv.convert_metaformer(official, META, src_size=64, dst_size=96)
    big = _model(96)
    big.load_state_dict(out, strict=True)  # shapes match 96 px grids
    key = 'backbone.stages.3.blocks.0.attn.rel_pos_bias_table'
    src = conv.fix_bias_table(
        official['stage_4.0.attn.relative_position_bias_table'])
    assert out[key].shape == ((2 * 3 - 1)**2 + 3, 2)
    assert torch.equal(out[key], resize_rel_pos_bias_table(src, (2, 2),
                                                           (3, 3)))
    # centre offset and extra-token entries survive the resize
    assert torch.allclose(out[key][12], src[4])
    assert torch.equal(out[key][-3:], src[-3:])
    with pytest.raises(ValueError, match='both'):
        conv.convert_metaformer(official, META, src_size=64)

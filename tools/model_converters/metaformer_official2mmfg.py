"""Convert an official MetaFormer checkpoint (dqshuai/MetaFormer) to mmfg.

Renames the keys to :class:`mmfg.models.backbones.MetaFormer` +
``LinearClsHead`` (``backbone.*``, ``head.fc.*``), replaces the official
relative position bias tables (``(2h-1)(2w-1) + 1`` rows, class/meta pairs
reading row 0) by mmfg's (``(2h-1)(2w-1) + 3`` rows; the three extra-token
entries get the official row 0, so the converted model computes what the
official one did), drops the index buffers, and optionally resizes the
tables to another input size (e.g. 224 → 384) by bicubic interpolation.

Usage::

    python tools/model_converters/metaformer_official2mmfg.py \\
        metafg_1_inat21_224.pth metaformer-1_inat21_384.pth \\
        --src-size 224 --dst-size 384 --meta-names time location

``--meta-names`` gives the ``meta_dims`` keys of the mmfg config in the
order of the official ``meta_dims`` list (``meta_1`` → first name...).
"""
import argparse
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch

from mmfg.models.backbones.metaformer import (NUM_EXTRA_BIAS, _down,
                                              resize_rel_pos_bias_table)
from mmfg.utils.checkpoint import safe_torch_load

_MBCONV = {
    '_expand_conv': 'expand_conv',
    '_bn0': 'expand_bn',
    '_depthwise_conv': 'dw_conv',
    '_bn1': 'dw_bn',
    '_se_reduce': 'se.reduce',
    '_se_expand': 'se.expand',
    '_project_conv': 'project_conv',
    '_bn2': 'project_bn',
}
_BLOCK = {
    'norm1': 'norm1',
    'norm2': 'norm2',
    'attn.qkv': 'attn.qkv',
    'attn.proj': 'attn.proj',
    'attn.relative_position_bias_table': 'attn.rel_pos_bias_table',
    'mlp.fc1': 'ffn.fc1',
    'mlp.fc2': 'ffn.fc2',
}
_META = {
    '0': 'fc',
    '2': 'norm',
    '3.w1': 'res.fc1',
    '3.norm_fn1': 'res.norm1',
    '3.w2': 'res.fc2',
    '3.norm_fn2': 'res.norm2',
}
_TOP = {
    'bn1': 'backbone.stem_norm',
    'cls_token_1': 'backbone.cls_tokens.0',
    'cls_token_2': 'backbone.cls_tokens.1',
    'norm_1': 'backbone.cls_norm3',
    'norm_2': 'backbone.cls_norm4',
    'cl_1_fc.0.fc1': 'backbone.cls_proj.0.fc1',
    'cl_1_fc.0.fc2': 'backbone.cls_proj.0.fc2',
    'cl_1_fc.1': 'backbone.cls_proj.1',
    'aggregate': 'backbone.cls_fuse',
    'norm': 'backbone.out_norm',
    'head': 'head.fc',
}


def _split_param(key: str) -> Tuple[str, str]:
    module, _, param = key.rpartition('.')
    return module, param


def rename_key(key: str, meta_names: Sequence[str] = ()) -> Optional[str]:
    """The mmfg name of an official key (None: the key is dropped).

    Args:
        key (str): official state-dict key.
        meta_names (Sequence[str]): mmfg meta names, official order.

    Returns:
        str | None: the new key; None for ``relative_position_index``.

    Raises:
        KeyError: a key this converter does not know (or a meta head
            without a name in ``meta_names``).
    """
    if key.endswith('relative_position_index'):
        return None
    if key in ('cls_token_1', 'cls_token_2'):
        return _TOP[key]
    module, param = _split_param(key)
    m = re.fullmatch(r'stage_0\.(\d+)', module)
    if m:
        return f'backbone.stem.{m.group(1)}.{param}'
    m = re.fullmatch(r'stage_([12])\.(\d+)\.(\w+)', module)
    if m and m.group(3) in _MBCONV:
        stage = int(m.group(1)) - 1
        return (f'backbone.stages.{stage}.{m.group(2)}.'
                f'{_MBCONV[m.group(3)]}.{param}')
    m = re.fullmatch(r'stage_([34])\.(\d+)\.(.+)', module + '.' + param)
    if m:
        stage, block, rest = int(m.group(1)) - 1, m.group(2), m.group(3)
        pm = re.fullmatch(r'patch_embed\.(proj|norm)\.(\w+)', rest)
        if pm and block == '0':
            name = 'conv' if pm.group(1) == 'proj' else 'norm'
            return f'backbone.stages.{stage}.downsample.{name}.{pm.group(2)}'
        sub, p = _split_param(rest)
        if rest == 'attn.relative_position_bias_table':
            sub, p = rest, ''
        if sub in _BLOCK:
            tail = _BLOCK[sub] + (f'.{p}' if p else '')
            return f'backbone.stages.{stage}.blocks.{block}.{tail}'
    m = re.fullmatch(r'meta_(\d+)_head_([12])\.(.+)', module)
    if m and m.group(3) in _META:
        k = int(m.group(1)) - 1
        if k >= len(meta_names):
            raise KeyError(f'{key}: official meta input {k + 1} has no name;'
                           f' give {k + 1} or more --meta-names (the keys '
                           'of meta_dims in the mmfg config).')
        return (f'backbone.meta_encoders.{int(m.group(2)) - 1}.'
                f'{meta_names[k]}.{_META[m.group(3)]}.{param}')
    if module in _TOP:
        return f'{_TOP[module]}.{param}'
    raise KeyError(f'unknown official MetaFormer key "{key}".')


def fix_bias_table(table: torch.Tensor) -> torch.Tensor:
    """Official ``(T + 1, nH)`` table → mmfg ``(T + 3, nH)``.

    The official index sends every pair with a class/meta token to row 0
    (its last row is never read), so the three mmfg extra-token entries
    all take row 0.
    """
    offsets = table[:-1]
    return torch.cat([offsets, table[:1].expand(NUM_EXTRA_BIAS, -1)], dim=0)


def convert_metaformer(state_dict: Dict[str, torch.Tensor],
                       meta_names: Sequence[str] = (),
                       src_size: Optional[int] = None,
                       dst_size: Optional[int] = None
                       ) -> 'OrderedDict[str, torch.Tensor]':
    """Convert an official state dict.

    Args:
        state_dict (dict): official weights (``model`` of the checkpoint).
        meta_names (Sequence[str]): mmfg meta names, official order.
        src_size (int, optional): input size of the official model.
        dst_size (int, optional): input size of the mmfg config; the bias
            tables are resized when it differs from ``src_size``.

    Returns:
        OrderedDict: mmfg state dict (``backbone.*``, ``head.fc.*``).
    """
    if (src_size is None) != (dst_size is None):
        raise ValueError('give both src_size and dst_size, or neither.')
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in state_dict.items():
        new = rename_key(key, meta_names)
        if new is None:
            continue
        if new.endswith('rel_pos_bias_table'):
            value = fix_bias_table(value)
            if src_size is not None and src_size != dst_size:
                stage = int(new.split('.')[2])  # 2 or 3 → stride 16 or 32
                times = stage + 2
                src = (_down(src_size, times), ) * 2
                dst = (_down(dst_size, times), ) * 2
                value = resize_rel_pos_bias_table(value, src, dst)
        out[new] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output mmfg checkpoint')
    parser.add_argument(
        '--meta-names', nargs='*', default=[],
        help='mmfg meta_dims keys in the official meta order')
    parser.add_argument('--src-size', type=int, default=None)
    parser.add_argument('--dst-size', type=int, default=None)
    parser.add_argument(
        '--trust', action='store_true',
        help='fully unpickle the source (official checkpoints hold a '
        'config object); only for files you trust')
    args = parser.parse_args()
    ckpt = safe_torch_load(args.src, map_location='cpu', trusted=args.trust)
    state = ckpt.get('model', ckpt.get('state_dict', ckpt))
    out = convert_metaformer(state, args.meta_names, args.src_size,
                             args.dst_size)
    torch.save(dict(state_dict=out), args.dst)
    print(f'{len(out)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()

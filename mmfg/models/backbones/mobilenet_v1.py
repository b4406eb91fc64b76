"""MobileNetV1 (Howard et al., 2017), the WSOL benchmark backbone.

MMPretrain ships MobileNetV2/V3 only. Layout as the WSOL literature uses it
(BAS, wsolevaluation): a stride-2 conv3x3 stem and 13 depthwise-separable
blocks (depthwise conv3x3 + BN + ReLU, pointwise conv1x1 + BN + ReLU), all
kept in ``self.layers`` so a localizer can cut the network between blocks.
"""
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmfg.registry import MODELS

__all__ = ['MobileNetV1']


def _conv_bn(cin: int, cout: int, stride: int, groups: int = 1,
             kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            cin,
            cout,
            kernel,
            stride,
            kernel // 2,
            groups=groups,
            bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _dw_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        _conv_bn(cin, cin, stride, groups=cin),
        _conv_bn(cin, cout, 1, kernel=1))


@MODELS.register_module()
class MobileNetV1(BaseModule):
    """MobileNetV1 backbone.

    Args:
        widen_factor (float): channel multiplier. Defaults to 1.0.
        strides (Sequence[int]): strides of the 13 depthwise blocks. The
            default is the ImageNet network except the 11th block (512 ->
            512 at 14x14 in the original) which BAS/wsolevaluation keep at
            stride 1: the default gives stride 8 after block 11 (28x28 at
            224 px) and stride 16 at the end.
        out_indices (Sequence[int]): indices into ``self.layers`` (0 = stem,
            1..13 = blocks) whose outputs are returned. Defaults to
            ``(13, )``.
        init_cfg (dict | list, optional): Kaiming convs, constant BN.

    Shapes:
        input ``(N, 3, H, W)`` -> tuple of ``(N, C_i, H/s_i, W/s_i)``.
    """

    channels = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024,
                1024)

    def __init__(self,
                 widen_factor: float = 1.0,
                 strides: Sequence[int] = (1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1,
                                           2, 1),
                 out_indices: Sequence[int] = (13, ),
                 init_cfg: Union[dict, List[dict]] = [
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='Constant', val=1, layer='BatchNorm2d')
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(strides) != len(self.channels):
            raise ValueError(f'MobileNetV1: strides needs '
                             f'{len(self.channels)} entries, got {strides}')
        for i in out_indices:
            if not 0 <= i <= len(self.channels):
                raise ValueError(f'MobileNetV1: out index {i} not in '
                                 f'[0, {len(self.channels)}]')
        self.out_indices = tuple(out_indices)
        width = [max(8, int(c * widen_factor)) for c in self.channels]
        cin = max(8, int(32 * widen_factor))
        layers = [_conv_bn(3, cin, 2)]
        for cout, s in zip(width, strides):
            layers.append(_dw_block(cin, cout, s))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.out_channels = tuple(
            ([max(8, int(32 * widen_factor))] + width)[i]
            for i in self.out_indices)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

"""InceptionV3 with a stride-8 ``Mixed_6e`` map for localisation.

WSOL methods (SPG, ADL, wsolevaluation, BAS) run Inception-V3 with the
stride-2 reduction of ``Mixed_6a`` removed, so the map that carries the
localisation (``Mixed_6e``) has twice the resolution. Only strides and
paddings change, every weight keeps its shape, so ImageNet checkpoints of
MMPretrain's :class:`~mmpretrain.models.backbones.InceptionV3` load as they
are. The classification tail (``fc``, dropout, auxiliary head) is removed:
it would be an unused parameter under DDP.
"""
from typing import Tuple

import torch.nn as nn
from mmpretrain.models.backbones import InceptionV3
from torch import Tensor

from mmfg.registry import MODELS

__all__ = ['InceptionV3WSOL']


@MODELS.register_module()
class InceptionV3WSOL(InceptionV3):
    """MMPretrain's InceptionV3 as a feature extractor, ``Mixed_6a`` at
    stride 1.

    Args:
        large_feature_map (bool): ``Mixed_6a`` at stride 1 (stride 8 at
            ``Mixed_6e``, 25x25 at 224 px) instead of 2. Defaults to True.
        init_cfg (dict | list, optional): as InceptionV3.

    Shapes:
        input ``(N, 3, H, W)`` -> ``((N, 2048, h, w), )`` (``Mixed_7c``).
    """

    def __init__(self, large_feature_map: bool = True, **kwargs) -> None:
        kwargs.setdefault('num_classes', 1)
        kwargs['aux_logits'] = False
        super().__init__(**kwargs)
        del self.fc, self.dropout, self.avgpool
        self.AuxLogits = None
        if large_feature_map:
            m = self.Mixed_6a
            for conv in (m.branch3x3.conv, m.branch3x3dbl_3.conv):
                conv.stride, conv.padding = (1, 1), (1, 1)
            m.branch_pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    def stem_to_mixed_6e(self, x: Tensor) -> Tensor:
        """``(N, 3, H, W)`` -> ``Mixed_6e`` map ``(N, 768, h, w)``."""
        for name in ('Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3',
                     'maxpool1', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3',
                     'maxpool2', 'Mixed_5b', 'Mixed_5c', 'Mixed_5d',
                     'Mixed_6a', 'Mixed_6b', 'Mixed_6c', 'Mixed_6d',
                     'Mixed_6e'):
            x = getattr(self, name)(x)
        return x

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        x = self.stem_to_mixed_6e(x)
        return (self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x))), )

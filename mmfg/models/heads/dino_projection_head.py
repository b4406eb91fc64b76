"""DINO-style projection head (MLP, L2 bottleneck, weight-normalised
prototypes) used by CMD's image-level and region-level branches."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmfg.registry import MODELS

__all__ = ['DINOProjectionHead']


@MODELS.register_module()
class DINOProjectionHead(BaseModule):
    """``x -> MLP -> L2-normalise -> weight-normalised linear -> logits``.

    Works on any leading dims: ``(B, D)`` class tokens or ``(B, N, D)``
    region tokens.

    Args:
        in_channels (int): ``D``.
        out_channels (int): ``K`` (65536 in DINO / EsViT).
        hidden_channels (int): MLP width. Defaults to 2048.
        bottleneck_channels (int): width before the last layer. Defaults to
            256.
        num_layers (int): MLP layers (>= 1). Defaults to 3.
        norm_last_layer (bool): fix the last layer's weight-norm gain
            ``g`` to 1 (not trained). Defaults to True.
        init_cfg (dict, optional): Defaults to truncated-normal linears.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 norm_last_layer: bool = True,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02,
                     bias=0.)) -> None:
        super().__init__(init_cfg)
        if num_layers < 1:
            raise ValueError(f'DINOProjectionHead: num_layers must be >= 1, '
                             f'got {num_layers}.')
        layers = []
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + \
            [bottleneck_channels]
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        # weight norm by hand: W = g * v / |v| (row-wise)
        self.last_v = nn.Parameter(
            torch.randn(out_channels, bottleneck_channels) * 0.02)
        self.last_g = nn.Parameter(
            torch.ones(out_channels), requires_grad=not norm_last_layer)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(..., K)`` of features ``(..., D)``."""
        z = F.normalize(self.mlp(x), dim=-1)
        w = self.last_g[:, None] * F.normalize(self.last_v, dim=-1)
        return F.linear(z, w)

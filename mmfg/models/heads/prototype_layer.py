"""Prototype layer shared by ProtoPNet-style heads.

One :class:`PrototypeLayer` = add-on layers + ``P`` prototypes + a last
layer without bias. It takes the feature map of any MMPretrain backbone
(ResNet, VGG, DenseNet, ConvNeXt: ``(B, C, H, W)``; ViT / Swin tokens
``(B, N, C)`` are reshaped to a map) and gives, per image, the distance or
similarity of every latent patch to every prototype, the pooled prototype
activations and the class logits. ProtoPNet uses one layer
(``similarity='log_l2'``), ST-ProtoPNet two (``similarity='cosine'``).

Distances come from :mod:`mmfg.models.utils.distances` (matmul form, never a
ones-convolution nor an ``N x M x D`` broadcast) and are computed in float32
even under AMP, where ``||x||^2 - 2 x.p + ||p||^2`` would otherwise lose its
small values to cancellation.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmfg.models.utils.distances import (cosine_similarity_map, log_similarity,
                                         squared_l2_map)
from mmfg.registry import MODELS

__all__ = [
    'PrototypeLayer', 'build_add_on_layers', 'feature_map', 'build_mmfg_module'
]

ADD_ON_TYPES = ('regular', 'bottleneck', 'linear', 'identity')


def build_mmfg_module(cfg: Union[dict, nn.Module]) -> nn.Module:
    """Build a config in the ``mmfg`` scope (unless it names another).

    Sub-components of mmfg heads (their losses) must resolve to mmfg types
    even when the config's default scope is ``mmpretrain``.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    if '_scope_' not in cfg and '.' not in str(cfg.get('type', '')):
        cfg['_scope_'] = 'mmfg'
    return MODELS.build(cfg)


def build_add_on_layers(in_channels: int,
                        prototype_dim: int,
                        add_on_type: str = 'regular',
                        upsample_factor: int = 1) -> nn.Sequential:
    """Add-on layers between the backbone and the prototypes.

    Args:
        in_channels (int): backbone channels ``C``.
        prototype_dim (int): prototype depth ``D``.
        add_on_type (str): ``'regular'`` (ProtoPNet: 1x1 conv → ReLU → 1x1
            conv → Sigmoid), ``'bottleneck'`` (ProtoPNet: pairs of 1x1 convs
            halving the channels down to ``D``, ReLU between, Sigmoid last),
            ``'linear'`` (ST-ProtoPNet on full images: two 1x1 convs, no
            activation) or ``'identity'`` (needs ``C == D``).
        upsample_factor (int): bilinear upsampling of the map first
            (ST-ProtoPNet uses 2 on ResNets). 1 disables it.

    Returns:
        nn.Sequential: maps ``(B, C, H, W)`` to ``(B, D, H*f, W*f)``.
    """
    if add_on_type not in ADD_ON_TYPES:
        raise ValueError(f'add_on_type must be one of {ADD_ON_TYPES}, got '
                         f'{add_on_type!r}')
    layers = []
    if upsample_factor != 1:
        layers.append(
            nn.Upsample(scale_factor=upsample_factor, mode='bilinear'))
    if add_on_type == 'regular':
        layers += [
            nn.Conv2d(in_channels, prototype_dim, 1),
            nn.ReLU(),
            nn.Conv2d(prototype_dim, prototype_dim, 1),
            nn.Sigmoid()
        ]
    elif add_on_type == 'linear':
        layers += [
            nn.Conv2d(in_channels, prototype_dim, 1),
            nn.Conv2d(prototype_dim, prototype_dim, 1)
        ]
    elif add_on_type == 'bottleneck':
        cur = in_channels
        first = True
        while cur > prototype_dim or first:
            first = False
            out = max(prototype_dim, cur // 2)
            layers += [
                nn.Conv2d(cur, out, 1),
                nn.ReLU(),
                nn.Conv2d(out, out, 1)
            ]
            layers.append(nn.ReLU() if out > prototype_dim else nn.Sigmoid())
            cur = cur // 2
            if out == prototype_dim:
                break
    elif in_channels != prototype_dim:
        raise ValueError(f"add_on_type='identity' needs in_channels "
                         f'({in_channels}) == prototype_dim ({prototype_dim})')
    return nn.Sequential(*layers)


def feature_map(feats: Union[Tensor, Sequence[Tensor]],
                in_index: int = -1,
                num_extra_tokens: int = 1,
                token_hw: Optional[Tuple[int, int]] = None) -> Tensor:
    """Pick a backbone output and make it a ``(B, C, H, W)`` map.

    Args:
        feats (Tensor | Sequence[Tensor]): backbone outputs (a tuple of
            stages as MMPretrain backbones return) or one tensor.
        in_index (int): which stage. Defaults to the last.
        num_extra_tokens (int): leading non-patch tokens (class/distillation
            tokens) to drop from ``(B, N, C)`` token inputs.
        token_hw (tuple[int, int], optional): patch grid of token inputs;
            inferred as a square grid when None.

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    x = feats[in_index] if isinstance(feats, (tuple, list)) else feats
    if isinstance(x, (tuple, list)):  # ViT out_type='raw' may nest
        x = x[0]
    if x.dim() == 4:
        return x
    if x.dim() != 3:
        raise ValueError('PrototypeLayer expects a feature map (B, C, H, W) '
                         f'or tokens (B, N, C), got shape {tuple(x.shape)}. '
                         "For MMPretrain's VisionTransformer set "
                         "out_type='featmap' or 'raw'.")
    B, N, C = x.shape
    if token_hw is None:
        n = N - num_extra_tokens
        side = int(math.isqrt(max(n, 0)))
        if side * side != n:
            raise ValueError(
                f'Cannot reshape {N} tokens ({num_extra_tokens} extra) to a '
                'square map; set token_hw=(h, w) or num_extra_tokens.')
        token_hw = (side, side)
    h, w = token_hw
    if N - h * w not in (0, num_extra_tokens):
        raise ValueError(f'{N} tokens do not match token_hw={token_hw} with '
                         f'{num_extra_tokens} extra tokens.')
    x = x[:, N - h * w:]
    return x.transpose(1, 2).reshape(B, C, h, w)


@MODELS.register_module()
class PrototypeLayer(BaseModule):
    """Add-on layers, prototypes and last layer of a prototype network.

    Prototype ``p`` belongs to class ``p // prototypes_per_class``.
    Prototypes are ``1 x 1`` (vectors of depth ``D``), stored as ``(P, D)``.

    Args:
        in_channels (int): backbone channels ``C``.
        num_classes (int): ``C_cls``.
        prototypes_per_class (int): ``K``; ``P = K * C_cls``.
        prototype_dim (int): ``D``.
        add_on_type (str): see :func:`build_add_on_layers`.
        upsample_factor (int): see :func:`build_add_on_layers`.
        similarity (str): ``'log_l2'`` (ProtoPNet: squared L2, min-pool,
            ``log((d + 1) / (d + eps))``) or ``'cosine'`` (ST-ProtoPNet:
            ``ReLU(cos)``, max-pool).
        eps (float): ``eps`` of the log similarity.
        incorrect_class_connection (float): last-layer init for the other
            classes (own class gets 1).
        prototype_init (str): ``'uniform'`` (``torch.rand``, official) or
            ``'normal'`` (N(0.5, 0.1)).
        normalize_prototypes (bool): keep prototypes unit-norm (cosine
            variants); they are normalised at init and by
            :meth:`renormalize_prototypes_` (called after every optimiser step
            by ``PrototypeRenormHook``).
        in_index (int): backbone stage used.
        num_extra_tokens (int): leading tokens dropped from token inputs.
        token_hw (tuple[int, int], optional): token grid size.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 prototypes_per_class: int = 10,
                 prototype_dim: int = 128,
                 add_on_type: str = 'regular',
                 upsample_factor: int = 1,
                 similarity: str = 'log_l2',
                 eps: float = 1e-4,
                 incorrect_class_connection: float = -0.5,
                 prototype_init: str = 'uniform',
                 normalize_prototypes: bool = False,
                 in_index: int = -1,
                 num_extra_tokens: int = 1,
                 token_hw: Optional[Tuple[int, int]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if similarity not in ('log_l2', 'cosine'):
            raise ValueError("similarity must be 'log_l2' or 'cosine', got "
                             f'{similarity!r}')
        if prototype_init not in ('uniform', 'normal'):
            raise ValueError("prototype_init must be 'uniform' or 'normal'")
        self.num_classes = num_classes
        self.prototypes_per_class = prototypes_per_class
        self.num_prototypes = P = num_classes * prototypes_per_class
        self.prototype_dim = prototype_dim
        self.similarity = similarity
        self.eps = eps
        self.incorrect_class_connection = incorrect_class_connection
        self.normalize_prototypes = normalize_prototypes
        self.in_index = in_index
        self.num_extra_tokens = num_extra_tokens
        self.token_hw = tuple(token_hw) if token_hw is not None else None

        self.add_on = build_add_on_layers(in_channels, prototype_dim,
                                          add_on_type, upsample_factor)
        if prototype_init == 'uniform':
            protos = torch.rand(P, prototype_dim)
        else:
            protos = torch.randn(P, prototype_dim) * 0.1 + 0.5
        self.prototypes = nn.Parameter(protos)
        self.last_layer = nn.Linear(P, num_classes, bias=False)
        self.register_buffer(
            'prototype_class',
            torch.arange(P) // prototypes_per_class,
            persistent=True)
        self.register_buffer(
            'prototype_valid', torch.ones(P, dtype=torch.bool),
            persistent=True)
        self._init_layers()

    # ------------------------------------------------------------------ init
    def _init_layers(self) -> None:
        for m in self.add_on.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(
                    m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.set_last_layer_connection(self.incorrect_class_connection)
        if self.normalize_prototypes:
            self.renormalize_prototypes_()

    @torch.no_grad()
    def set_last_layer_connection(self, incorrect: float = -0.5) -> None:
        """Last layer: 1 from each prototype to its class, ``incorrect`` to
        the others (0 for pruned prototypes)."""
        ident = self.class_identity.t()  # (C, P)
        w = ident + incorrect * (1 - ident)
        w = w * self.prototype_valid[None].to(w.dtype)
        self.last_layer.weight.copy_(w)

    @torch.no_grad()
    def renormalize_prototypes_(self) -> None:
        """Project prototypes back to the unit sphere (in place)."""
        self.prototypes.copy_(F.normalize(self.prototypes, dim=1))

    # ------------------------------------------------------------ properties
    @property
    def class_identity(self) -> Tensor:
        """``(P, C)`` one-hot class of every prototype (float)."""
        return F.one_hot(self.prototype_class,
                         self.num_classes).to(self.prototypes.dtype)

    @property
    def l1_mask(self) -> Tensor:
        """``(C, P)`` mask of last-layer weights to wrong classes."""
        return 1 - self.class_identity.t()

    @property
    def last_weight(self) -> Tensor:
        """``(C, P)`` last-layer weight with pruned prototypes' columns
        zeroed (what the logits, the L1 term and explanations use; the raw
        columns of pruned prototypes may still move under optimiser
        momentum, but are never used)."""
        w = self.last_layer.weight
        return w * self.prototype_valid[None].to(w.dtype)

    @property
    def metric(self) -> str:
        """Metric name :class:`~mmfg.models.utils.PatchProjector` uses."""
        return 'squared_l2' if self.similarity == 'log_l2' else 'cosine'

    # ---------------------------------------------------------------- forward
    def latent(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Latent map after the add-on layers.

        Args:
            feats: backbone output(s), see :func:`feature_map`.

        Returns:
            Tensor: ``(B, D, h, w)``.
        """
        x = feature_map(feats, self.in_index, self.num_extra_tokens,
                        self.token_hw)
        return self.add_on(x)

    def distance_maps(self, z: Tensor) -> Tensor:
        """Per-patch distance (``log_l2``) or similarity (``cosine``).

        Args:
            z (Tensor): latent map ``(B, D, h, w)``.

        Returns:
            Tensor: ``(B, P, h, w)`` float32: squared L2 distances
            (``log_l2``) or ``ReLU(cosine)`` similarities (``cosine``).
        """
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.float()
            p = self.prototypes.float()
            if self.similarity == 'log_l2':
                return squared_l2_map(z, p)
            return F.relu(cosine_similarity_map(z, p))

    def activation_maps(self, maps: Tensor) -> Tensor:
        """Similarity maps (``(B, P, h, w)``) from :meth:`distance_maps`."""
        if self.similarity == 'log_l2':
            return log_similarity(maps, self.eps)
        return maps

    def forward(self, feats: Union[Tensor, Sequence[Tensor]]) -> \
            Dict[str, Tensor]:
        """Run the layer.

        Args:
            feats: backbone output(s) (``(B, C, H, W)`` or tokens).

        Returns:
            dict: ``latent (B, D, h, w)``; ``maps (B, P, h, w)`` (see
            :meth:`distance_maps`); ``pos (B, P)`` flat latent position of
            the best patch; ``min_dist (B, P)`` (``log_l2`` only, the
            min-pooled distance); ``sim (B, P)`` pooled similarity (0 for
            pruned prototypes); ``logits (B, C)``.
        """
        z = self.latent(feats)
        maps = self.distance_maps(z)
        flat = maps.flatten(2)
        out = dict(latent=z, maps=maps)
        if self.similarity == 'log_l2':
            min_dist, pos = flat.min(-1)
            sim = log_similarity(min_dist, self.eps)
            out['min_dist'] = min_dist
        else:
            sim, pos = flat.max(-1)
        sim = sim * self.prototype_valid.to(sim.dtype)
        out['pos'] = pos
        out['sim'] = sim
        out['logits'] = F.linear(
            sim.to(self.last_layer.weight.dtype), self.last_weight)
        return out

    # ----------------------------------------------------------------- prune
    @torch.no_grad()
    def prune_(self, prune: Tensor) -> None:
        """Switch prototypes off (they stop contributing to the logits, to
        the losses and to push).

        Args:
            prune (Tensor): ``(P,)`` bool, True to prune.
        """
        prune = prune.to(self.prototype_valid.device).bool()
        self.prototype_valid &= ~prune
        self.last_layer.weight[:, prune] = 0

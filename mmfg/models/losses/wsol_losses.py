"""Losses of weakly supervised object localisation (BAS, Wu et al., CVPR
2022: "Background Activation Suppression for Weakly Supervised Object
Localization"; extended to semantic segmentation in its journal version).

Three terms, each a small registered loss so that a config can weight or
swap any of them:

* :class:`ForegroundGuidanceLoss` -- cross entropy on the *foreground
  score* ``GAP(F * M_fg)`` (the classifier's class-logit map ``F`` seen
  through the foreground map ``M_fg``): keeps the foreground map on the
  object's discriminative evidence.
* :class:`AreaLoss` -- ``mean(M_fg)``: keeps the map small.
* :class:`ActivationMapConstraintLoss` -- the Activation Map Constraint
  ``ReLU(S_bg) / (ReLU(S) + eps)``: the ground-truth class score ``S_bg`` of
  the *background* (the features erased by ``M_fg``) relative to the
  detached score ``S`` of the whole image. Minimising it pushes every
  piece of evidence for the class into the foreground map.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmfg.registry import MODELS

__all__ = [
    'activation_map_constraint', 'foreground_score',
    'ActivationMapConstraintLoss', 'AreaLoss', 'ForegroundGuidanceLoss'
]

_OVERFLOW = ('clip', 'zero', 'none')


def activation_map_constraint(bg_score: Tensor,
                              score: Tensor,
                              eps: float = 1e-8,
                              overflow: str = 'clip') -> Tensor:
    """Per-sample Activation Map Constraint ratio.

    ``ReLU(S_bg) / (ReLU(S.detach()) + eps)``. Where the background scores
    higher than the whole image (``S_bg > S``, the ratio exceeds 1) the
    official implementation replaces the ratio by a constant without
    gradient: 1 for ResNet / Inception / MobileNet (``overflow='clip'``,
    identical to ``min(ratio, 1)``), 0 for VGG (``overflow='zero'``).

    Args:
        bg_score (Tensor): ``(N,)`` GT-class score of the erased background.
        score (Tensor): ``(N,)`` GT-class score of the full image (detached
            here; it is the reference, not a target).
        eps (float): keeps the ratio finite when ``S <= 0``.
        overflow (str): ``'clip'``, ``'zero'`` or ``'none'`` (plain ratio).

    Returns:
        Tensor: ``(N,)`` ratios.
    """
    if overflow not in _OVERFLOW:
        raise ValueError(f'overflow must be one of {_OVERFLOW}, '
                         f'got {overflow!r}')
    # float32: fp16 flushes eps to 0 (0 / 0 for a zero score under AMP)
    s = F.relu(score.detach().float())
    s_bg = F.relu(bg_score.float())
    ratio = s_bg / (s + eps)
    if overflow == 'none':
        return ratio
    fill = 1.0 if overflow == 'clip' else 0.0
    return torch.where(s_bg > s, torch.full_like(ratio, fill), ratio)


def foreground_score(score_map: Tensor, fg_map: Tensor) -> Tensor:
    """``GAP(F * M_fg)`` with ``M_fg`` average-pooled to ``F``'s size
    (the official ``AvgPool2d(2)`` when ``F`` is half the map's size).

    Args:
        score_map (Tensor): ``(N, C, h', w')`` class-logit map ``F``.
        fg_map (Tensor): ``(N, 1, h, w)`` foreground map.

    Returns:
        Tensor: ``(N, C)`` foreground logits.
    """
    if fg_map.shape[-2:] != score_map.shape[-2:]:
        fg_map = F.adaptive_avg_pool2d(fg_map, score_map.shape[-2:])
    return (score_map * fg_map).mean(dim=(2, 3))


@MODELS.register_module()
class ActivationMapConstraintLoss(nn.Module):
    """Activation Map Constraint of BAS, averaged over the batch.

    Args:
        loss_weight (float): weight of the term. Defaults to 1.0.
        eps (float): see :func:`activation_map_constraint`.
        overflow (str): see :func:`activation_map_constraint`.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 eps: float = 1e-8,
                 overflow: str = 'clip') -> None:
        super().__init__()
        if overflow not in _OVERFLOW:
            raise ValueError(f'overflow must be one of {_OVERFLOW}, '
                             f'got {overflow!r}')
        self.loss_weight = loss_weight
        self.eps = eps
        self.overflow = overflow

    def forward(self, bg_score: Tensor, score: Tensor) -> Tensor:
        """
        Args:
            bg_score (Tensor): ``(N,)`` background GT-class scores.
            score (Tensor): ``(N,)`` full-image GT-class scores.

        Returns:
            Tensor: scalar loss.
        """
        ratio = activation_map_constraint(bg_score, score, self.eps,
                                          self.overflow)
        return self.loss_weight * ratio.mean()


@MODELS.register_module()
class AreaLoss(nn.Module):
    """Mean activation of the foreground map (BAS' area constraint).

    Args:
        loss_weight (float): the paper's β. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, fg_map: Tensor) -> Tensor:
        """
        Args:
            fg_map (Tensor): ``(N, 1, h, w)`` or ``(N, h, w)`` map in [0, 1].

        Returns:
            Tensor: scalar loss, ``loss_weight * mean(fg_map)``.
        """
        return self.loss_weight * fg_map.mean()


@MODELS.register_module()
class ForegroundGuidanceLoss(nn.Module):
    """Classification loss on the foreground score ``GAP(F * M_fg)``.

    Args:
        loss_weight (float): the paper's α. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, fg_logits: Tensor, target: Tensor) -> Tensor:
        """
        Args:
            fg_logits (Tensor): ``(N, C)`` foreground logits.
            target (Tensor): ``(N,)`` class indices (for multi-label data:
                the one positive class drawn per image).

        Returns:
            Tensor: scalar loss.
        """
        return self.loss_weight * F.cross_entropy(fg_logits, target)

"""Regression of network outputs to fixed class codes (target embedding)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmfg.models.utils.distances import pairwise_squared_l2
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = ['CodeRegressionLoss']


@MODELS.register_module()
class CodeRegressionLoss(nn.Module):
    """Distance between outputs and their target codes.

    Per sample ``i`` (``p`` = output, ``t`` = target code, ``d`` dims):

    * ``'mse'``: ``mean_k (p_ik - t_ik)^2``;
    * ``'smooth_l1'``: ``mean_k h(p_ik - t_ik)`` with the Huber-style
      ``h(x) = 0.5 x^2 / beta`` for ``|x| < beta`` else ``|x| - 0.5 beta``;
    * ``'cosine'``: ``1 - cos(p_i, t_i)``;
    * ``'softmax'``: cross-entropy of the softmax over negative squared
      distances to all class codes, ``-log softmax_c(-|p_i - code_c|^2 /
      temperature)[y_i]`` (needs ``codes``; a soft target ``t_i`` that is a
      mixture of codes is not supported). Not the paper's regression: it
      trains the nearest-code decision directly (see the README).

    The per-sample values are weighted (``weight``) and averaged over the
    batch (or over ``avg_factor``), summed, or returned as they are.

    Args:
        mode (str): ``'mse'``, ``'smooth_l1'`` or ``'cosine'``.
        beta (float): smooth-L1 threshold. Defaults to 1.
        temperature (float): of ``'softmax'``. Defaults to 1.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight (float): factor on the loss.
    """

    modes = ('mse', 'smooth_l1', 'cosine', 'softmax')

    def __init__(self,
                 mode: str = 'mse',
                 beta: float = 1.0,
                 temperature: float = 1.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if mode not in self.modes:
            raise ConfigError(f'CodeRegressionLoss: mode must be one of '
                              f'{self.modes}, got {mode!r}.')
        if reduction not in ('mean', 'sum', 'none'):
            raise ConfigError("CodeRegressionLoss: reduction must be 'mean', "
                              f"'sum' or 'none', got {reduction!r}.")
        self.mode = mode
        self.beta = float(beta)
        self.temperature = float(temperature)
        self.reduction = reduction
        self.loss_weight = float(loss_weight)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                codes: Optional[Tensor] = None,
                labels: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``(N, d)`` outputs.
            target (Tensor): ``(N, d)`` target codes.
            weight (Tensor, optional): ``(N,)`` sample weights.
            avg_factor (float, optional): divisor of the ``'mean'``
                reduction instead of ``N``.
            codes (Tensor, optional): ``(C, d)`` all class codes
                (``'softmax'`` only).
            labels (Tensor, optional): ``(N,)`` classes (``'softmax'``
                only).

        Returns:
            Tensor: scalar, or ``(N,)`` with ``reduction='none'``.
        """
        target = target.to(pred.dtype)
        if self.mode == 'mse':
            per = F.mse_loss(pred, target, reduction='none').mean(-1)
        elif self.mode == 'smooth_l1':
            per = F.smooth_l1_loss(
                pred, target, reduction='none', beta=self.beta).mean(-1)
        elif self.mode == 'cosine':
            per = 1 - F.cosine_similarity(pred, target, dim=-1, eps=1e-8)
        else:
            if codes is None or labels is None:
                raise ValueError(
                    "CodeRegressionLoss(mode='softmax') needs the class "
                    'codes and hard labels (TargetEmbeddingHead passes '
                    'them; batch augmentations with soft labels are not '
                    'supported).')
            dist = pairwise_squared_l2(pred, codes.to(pred.dtype))
            per = F.cross_entropy(
                -dist / self.temperature, labels, reduction='none')
        if weight is not None:
            per = per * weight.to(per.dtype)
        if self.reduction == 'sum':
            per = per.sum()
        elif self.reduction == 'mean':
            per = per.sum() / (avg_factor if avg_factor is not None else
                               max(per.numel(), 1))
        return self.loss_weight * per

"""Losses of concept transformers (CT, Concept-Centric Transformers).

- :func:`explanation_mse` / :class:`ConceptExplanationLoss`: the concept
  attention should match the normalised attribute targets (built by
  :class:`~mmfg.models.utils.concept_mapping.ConceptMapping`). Per
  supervised row (an image for global concepts, a patch for spatial ones)
  the squared error is summed over the ``K`` concepts and averaged over the
  supervised rows, i.e. ``K`` times the element-wise MSE, so the loss stays
  O(1) whatever ``K`` (the convention of the official CT/CCT code).
- :func:`attention_entropy` / :class:`ConceptSparsityLoss`: the entropy of
  the concept attention, pushing every row to a few concepts. Averaged
  over rows *and* concepts (``H(p) / K`` per row), as the official code.

The full CCT objective is ``NLL + 1.0 * explanation + 0.5 * sparsity``.
"""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from mmfg.registry import MODELS

__all__ = [
    'explanation_mse', 'attention_entropy', 'ConceptExplanationLoss',
    'ConceptSparsityLoss'
]


def explanation_mse(attn: Tensor, target: Tensor,
                    valid: Optional[Tensor] = None) -> Tensor:
    """Mean over supervised rows of the summed squared error.

    Args:
        attn (Tensor): ``(..., K)`` concept attention (rows sum to 1).
        target (Tensor): ``(..., K)`` normalised targets.
        valid (Tensor, optional): ``(...)`` bool, rows to supervise
            (default all).

    Returns:
        Tensor: scalar; 0 (still attached to ``attn``) when no row is
        supervised.
    """
    err = (attn.float() - target.float()).pow(2).sum(-1)
    if valid is None:
        return err.mean()
    valid = valid.to(err.dtype)
    return (err * valid).sum() / valid.sum().clamp_min(1.)


def attention_entropy(attn: Tensor, eps: float = 1e-8) -> Tensor:
    """``mean(-p log(p + eps))`` over every element of ``attn (..., K)``."""
    p = attn.float()
    return -(p * (p + eps).log()).mean()


@MODELS.register_module()
class ConceptExplanationLoss(nn.Module):
    """Explanation loss of concept transformers.

    Args:
        loss_weight (float): weight of the sum of both streams. Defaults to
            1.0 (CCT).
        global_weight (float): weight of the global stream.
        spatial_weight (float): weight of the spatial stream.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 global_weight: float = 1.0,
                 spatial_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.global_weight = global_weight
        self.spatial_weight = spatial_weight

    def forward(self,
                global_attn: Optional[Tensor] = None,
                global_target: Optional[Tensor] = None,
                global_valid: Optional[Tensor] = None,
                spatial_attn: Optional[Tensor] = None,
                spatial_target: Optional[Tensor] = None,
                spatial_valid: Optional[Tensor] = None) -> Tensor:
        """Weighted explanation loss.

        Args:
            global_attn (Tensor, optional): ``(B, G)``.
            global_target (Tensor, optional): ``(B, G)``.
            global_valid (Tensor, optional): ``(B,)`` bool.
            spatial_attn (Tensor, optional): ``(B, N, S)``.
            spatial_target (Tensor, optional): ``(B, N, S)``.
            spatial_valid (Tensor, optional): ``(B, N)`` bool.

        Returns:
            Tensor: scalar.
        """
        loss = 0.
        if global_attn is not None:
            loss = loss + self.global_weight * explanation_mse(
                global_attn, global_target, global_valid)
        if spatial_attn is not None:
            loss = loss + self.spatial_weight * explanation_mse(
                spatial_attn, spatial_target, spatial_valid)
        return self.loss_weight * loss


@MODELS.register_module()
class ConceptSparsityLoss(nn.Module):
    """Entropy sparsity of the concept attention (sum over streams).

    Args:
        loss_weight (float): Defaults to 0.5 (CCT).
        eps (float): inside the log.
    """

    def __init__(self, loss_weight: float = 0.5, eps: float = 1e-8) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, *attns: Optional[Tensor]) -> Tensor:
        """Args: attention tensors ``(..., K)`` (None entries skipped).

        Returns:
            Tensor: ``loss_weight * sum_i attention_entropy(attns[i])``.
        """
        loss = 0.
        for attn in attns:
            if attn is not None:
                loss = loss + attention_entropy(attn, self.eps)
        return self.loss_weight * loss

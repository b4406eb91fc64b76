"""Pair and triplet metric-learning losses with a pluggable distance (DSML).

Signatures (stable)::

    TripletLoss(margin=0.2, distance='l2', miner='semi-hard',
                reduction='mean_nonzero', reg_weight=0.0, loss_weight=1.0)
    ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance='l2',
                    miner='all', reduction='mean_nonzero', reg_weight=0.0,
                    loss_weight=1.0)
    ZeroMeanRegularizer(loss_weight=1.0)
    loss(embeddings (N, D), labels (N,), ref_embeddings=None (M, D),
         ref_labels=None (M,)) -> scalar Tensor
    zero_mean_regularizer(embeddings (N, D)) -> scalar Tensor

``distance`` is one of ``'l2'``, ``'squared_l2'``, ``'cosine'`` (``1 -
cos``) and ``'snr'`` (Yuan et al., "Signal-to-Noise Ratio: A Robust
Distance Metric for Deep Metric Learning", CVPR 2019), all computed by
:func:`mmfg.models.utils.pairwise_distance` (one matmul). Miners are in
:mod:`mmfg.models.losses.miners`. DSML's zero-mean regulariser
``lambda * mean_i |sum_m h_im|`` keeps the embeddings centred, which the SNR
distance assumes; set ``reg_weight`` to add it to a loss.

With ``ref_embeddings`` the anchors are ``embeddings`` and the positives and
negatives come from ``ref_embeddings`` (e.g. another cohort member's
embeddings or a memory bank); without, both come from the batch and an
anchor is never its own positive.
"""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from mmfg.models.utils.distances import DISTANCES, pairwise_distance
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError
from .miners import (PAIR_MINERS, TRIPLET_MINERS, label_masks, mine_pairs,
                     mine_triplets)

__all__ = [
    'TripletLoss', 'ContrastiveLoss', 'ZeroMeanRegularizer',
    'zero_mean_regularizer'
]

_REDUCTIONS = ('mean', 'mean_nonzero', 'sum')


def zero_mean_regularizer(embeddings: Tensor) -> Tensor:
    """DSML's zero-mean regulariser ``mean_i |sum_m h_im|``.

    Args:
        embeddings (Tensor): ``(N, D)``.

    Returns:
        Tensor: scalar.
    """
    return embeddings.sum(-1).abs().mean()


def _reduce(values: Tensor, mask: Tensor, reduction: str) -> Tensor:
    """Reduce the masked entries of ``values`` without a host sync.

    ``'mean_nonzero'`` averages over the masked entries whose value is
    positive (0 when there is none), ``'mean'`` over all masked entries.
    """
    values = values * mask
    total = values.sum()
    if reduction == 'sum':
        return total
    count = (mask & (values > 0)) if reduction == 'mean_nonzero' else mask
    return total / count.sum().clamp_min(1)


def _check(name: str, distance: str, miner: str, miners: tuple,
           reduction: str) -> None:
    if distance not in DISTANCES:
        raise ConfigError(f'{name}: distance must be one of {DISTANCES}, got '
                          f'{distance!r}.')
    if miner not in miners:
        raise ConfigError(
            f'{name}: miner must be one of {miners}, got {miner!r}.')
    if reduction not in _REDUCTIONS:
        raise ConfigError(f'{name}: reduction must be one of {_REDUCTIONS}, '
                          f'got {reduction!r}.')


class _MetricLoss(nn.Module):
    """Shared distance / regulariser plumbing."""

    def __init__(self, distance: str, reg_weight: float,
                 loss_weight: float) -> None:
        super().__init__()
        self.distance = distance
        self.reg_weight = float(reg_weight)
        self.loss_weight = float(loss_weight)

    def _prepare(self, embeddings: Tensor, labels: Tensor,
                 ref_embeddings: Optional[Tensor],
                 ref_labels: Optional[Tensor]):
        if (ref_embeddings is None) != (ref_labels is None):
            raise ValueError(f'{type(self).__name__}: give both '
                             'ref_embeddings and ref_labels, or neither.')
        labels = labels.view(-1)
        ref = embeddings if ref_embeddings is None else ref_embeddings
        dist = pairwise_distance(embeddings, ref, self.distance)
        pos, neg = label_masks(labels, ref_labels)
        return dist, pos, neg

    def _finish(self, loss: Tensor, embeddings: Tensor) -> Tensor:
        if self.reg_weight:
            loss = loss + self.reg_weight * zero_mean_regularizer(embeddings)
        return self.loss_weight * loss


@MODELS.register_module()
class TripletLoss(_MetricLoss):
    """Triplet margin loss ``[d(a, p) - d(a, n) + margin]_+`` over mined
    triplets.

    All triplets of the batch are scored at once as an ``(N, M, M)`` tensor
    (``N = M = 256`` is 16M elements), masked by the miner.

    Args:
        margin (float): margin. Defaults to 0.2.
        distance (str): ``'l2'``, ``'squared_l2'``, ``'cosine'`` or
            ``'snr'``. Defaults to ``'l2'``.
        miner (str): ``'all'``, ``'semi-hard'``, ``'hard'`` or
            ``'batch-hard'`` (see :mod:`~mmfg.models.losses.miners`).
            Defaults to ``'semi-hard'``.
        reduction (str): ``'mean_nonzero'`` (mean over the mined triplets
            with a positive loss), ``'mean'`` (over all mined triplets) or
            ``'sum'``. Defaults to ``'mean_nonzero'``.
        reg_weight (float): weight of the zero-mean regulariser on
            ``embeddings``. Defaults to 0.
        loss_weight (float): overall weight. Defaults to 1.
    """

    def __init__(self,
                 margin: float = 0.2,
                 distance: str = 'l2',
                 miner: str = 'semi-hard',
                 reduction: str = 'mean_nonzero',
                 reg_weight: float = 0.0,
                 loss_weight: float = 1.0) -> None:
        _check('TripletLoss', distance, miner, TRIPLET_MINERS, reduction)
        super().__init__(distance, reg_weight, loss_weight)
        self.margin = float(margin)
        self.miner = miner
        self.reduction = reduction

    def forward(self,
                embeddings: Tensor,
                labels: Tensor,
                ref_embeddings: Optional[Tensor] = None,
                ref_labels: Optional[Tensor] = None) -> Tensor:
        """Loss of a batch.

        Args:
            embeddings (Tensor): anchors ``(N, D)``.
            labels (Tensor): ``(N,)``.
            ref_embeddings (Tensor, optional): ``(M, D)`` positives and
                negatives; defaults to ``embeddings``.
            ref_labels (Tensor, optional): ``(M,)``.

        Returns:
            Tensor: scalar loss (0 with a graph when no triplet is mined).
        """
        dist, pos, neg = self._prepare(embeddings, labels, ref_embeddings,
                                       ref_labels)
        mask = mine_triplets(dist, pos, neg, self.margin, self.miner)
        values = (dist.unsqueeze(2) - dist.unsqueeze(1) + self.margin).relu()
        return self._finish(_reduce(values, mask, self.reduction), embeddings)


@MODELS.register_module()
class ContrastiveLoss(_MetricLoss):
    """Contrastive loss ``[d(a, p) - m_pos]_+`` on positive pairs plus
    ``[m_neg - d(a, n)]_+`` on negative pairs, each reduced separately.

    Args:
        pos_margin (float): distance below which positives cost nothing.
            Defaults to 0.
        neg_margin (float): distance above which negatives cost nothing.
            Defaults to 1.
        distance (str): ``'l2'``, ``'squared_l2'``, ``'cosine'`` or
            ``'snr'``. Defaults to ``'l2'``.
        miner (str): ``'all'``, ``'hard'`` or ``'batch-hard'``.
            Defaults to ``'all'``.
        reduction (str): ``'mean_nonzero'``, ``'mean'`` or ``'sum'`` (of
            each of the positive and negative terms). Defaults to
            ``'mean_nonzero'``.
        reg_weight (float): weight of the zero-mean regulariser.
            Defaults to 0.
        loss_weight (float): overall weight. Defaults to 1.
    """

    def __init__(self,
                 pos_margin: float = 0.0,
                 neg_margin: float = 1.0,
                 distance: str = 'l2',
                 miner: str = 'all',
                 reduction: str = 'mean_nonzero',
                 reg_weight: float = 0.0,
                 loss_weight: float = 1.0) -> None:
        _check('ContrastiveLoss', distance, miner, PAIR_MINERS, reduction)
        super().__init__(distance, reg_weight, loss_weight)
        self.pos_margin = float(pos_margin)
        self.neg_margin = float(neg_margin)
        self.miner = miner
        self.reduction = reduction

    def forward(self,
                embeddings: Tensor,
                labels: Tensor,
                ref_embeddings: Optional[Tensor] = None,
                ref_labels: Optional[Tensor] = None) -> Tensor:
        """Loss of a batch; arguments as :meth:`TripletLoss.forward`."""
        dist, pos, neg = self._prepare(embeddings, labels, ref_embeddings,
                                       ref_labels)
        pos, neg = mine_pairs(dist, pos, neg, self.miner)
        loss = _reduce((dist - self.pos_margin).relu(), pos, self.reduction) \
            + _reduce((self.neg_margin - dist).relu(), neg, self.reduction)
        return self._finish(loss, embeddings)


@MODELS.register_module()
class ZeroMeanRegularizer(nn.Module):
    """DSML's zero-mean regulariser as a loss module:
    ``loss_weight * mean_i |sum_m h_im|``.

    Args:
        loss_weight (float): the paper's lambda. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, embeddings: Tensor, *args, **kwargs) -> Tensor:
        """Args: embeddings (Tensor): ``(N, D)``. Returns a scalar."""
        return self.loss_weight * zero_mean_regularizer(embeddings)

"""Batch-vectorised pair and triplet miners for metric-learning losses.

Signatures (stable)::

    label_masks(labels, ref_labels=None) -> (pos (N, M) bool, neg (N, M) bool)
    mine_triplets(dist, pos, neg, margin, miner='all') -> (N, M, M) bool
    mine_pairs(dist, pos, neg, miner='all') -> (pos (N, M), neg (N, M))

Distances are "smaller is closer" (see
:func:`mmfg.models.utils.pairwise_distance`); every miner works on the whole
``(N, M)`` distance matrix (``(N, M, M)`` for triplets) with masks, without
a Python loop over anchors, pairs or triplets, and without host syncs.

Triplet miners (``d_ap`` anchor-positive, ``d_an`` anchor-negative):

- ``'all'``: every valid triplet ``(a, p, n)``;
- ``'semi-hard'``: ``d_ap < d_an < d_ap + margin`` (FaceNet);
- ``'hard'``: ``d_an <= d_ap`` (the negative is at least as close as the
  positive);
- ``'batch-hard'``: per anchor, its farthest positive with its closest
  negative (Hermans et al., 2017).

Pair miners:

- ``'all'``: every positive and negative pair;
- ``'hard'``: positives farther than the anchor's closest negative and
  negatives closer than the anchor's farthest positive (the pairs that
  break the anchor's ranking; multi-similarity mining with epsilon 0);
- ``'batch-hard'``: per anchor, its farthest positive and closest negative.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = [
    'TRIPLET_MINERS', 'PAIR_MINERS', 'label_masks', 'mine_triplets',
    'mine_pairs'
]

TRIPLET_MINERS = ('all', 'semi-hard', 'hard', 'batch-hard')
PAIR_MINERS = ('all', 'hard', 'batch-hard')


def label_masks(labels: Tensor,
                ref_labels: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Positive / negative pair masks.

    Args:
        labels (Tensor): ``(N,)`` anchor labels.
        ref_labels (Tensor, optional): ``(M,)`` labels of the other side.
            None: the anchors themselves, and an anchor is not its own
            positive.

    Returns:
        tuple[Tensor, Tensor]: ``pos`` and ``neg``, ``(N, M)`` bool.
    """
    same_set = ref_labels is None
    ref = labels if same_set else ref_labels
    same = labels.view(-1, 1) == ref.view(1, -1)
    pos = same.clone()
    if same_set:
        pos.fill_diagonal_(False)
    return pos, ~same


def _extreme_mask(dist: Tensor, mask: Tensor, largest: bool) -> Tensor:
    """One-hot ``(N, M)`` of each row's extreme masked entry (none if the
    row has no masked entry)."""
    fill = float('-inf') if largest else float('inf')
    d = dist.detach().masked_fill(~mask, fill)
    idx = d.argmax(1) if largest else d.argmin(1)
    hot = torch.zeros_like(mask)
    hot.scatter_(1, idx.unsqueeze(1), True)
    return hot & mask


def mine_triplets(dist: Tensor,
                  pos: Tensor,
                  neg: Tensor,
                  margin: float,
                  miner: str = 'all') -> Tensor:
    """Mask of the mined triplets ``(a, p, n)``.

    Args:
        dist (Tensor): ``(N, M)`` distances (smaller is closer).
        pos (Tensor): ``(N, M)`` bool positive pairs.
        neg (Tensor): ``(N, M)`` bool negative pairs.
        margin (float): triplet margin (for ``'semi-hard'``).
        miner (str): one of :data:`TRIPLET_MINERS`.

    Returns:
        Tensor: ``(N, M, M)`` bool, ``[a, p, n]``.
    """
    if miner not in TRIPLET_MINERS:
        raise ValueError(
            f'triplet miner must be one of {TRIPLET_MINERS}, got {miner!r}.')
    if miner == 'batch-hard':
        pos = _extreme_mask(dist, pos, largest=True)
        neg = _extreme_mask(dist, neg, largest=False)
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)
    if miner in ('all', 'batch-hard'):
        return valid
    d = dist.detach()
    d_ap, d_an = d.unsqueeze(2), d.unsqueeze(1)
    if miner == 'semi-hard':
        return valid & (d_an > d_ap) & (d_an < d_ap + margin)
    return valid & (d_an <= d_ap)  # hard


def mine_pairs(dist: Tensor,
               pos: Tensor,
               neg: Tensor,
               miner: str = 'all') -> Tuple[Tensor, Tensor]:
    """Masks of the mined positive and negative pairs.

    Args:
        dist (Tensor): ``(N, M)`` distances (smaller is closer).
        pos (Tensor): ``(N, M)`` bool positive pairs.
        neg (Tensor): ``(N, M)`` bool negative pairs.
        miner (str): one of :data:`PAIR_MINERS`.

    Returns:
        tuple[Tensor, Tensor]: mined ``pos`` and ``neg``, ``(N, M)`` bool.
    """
    if miner not in PAIR_MINERS:
        raise ValueError(
            f'pair miner must be one of {PAIR_MINERS}, got {miner!r}.')
    if miner == 'all':
        return pos, neg
    if miner == 'batch-hard':
        return (_extreme_mask(dist, pos, largest=True),
                _extreme_mask(dist, neg, largest=False))
    d = dist.detach()
    far_pos = d.masked_fill(~pos, float('-inf')).amax(1, keepdim=True)
    near_neg = d.masked_fill(~neg, float('inf')).amin(1, keepdim=True)
    return pos & (d > near_neg), neg & (d < far_pos)

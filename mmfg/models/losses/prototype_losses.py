"""Losses of prototype part networks (ProtoPNet, ST-ProtoPNet).

Functional pieces (cluster / separation in distance or similarity form,
masked L1, class-pair prototype similarity, closeness, discrimination,
orthogonality) and two registered losses that compose them:

- :class:`ProtoPNetLoss`: ``CE + 0.8 * cluster - 0.08 * separation +
  1e-4 * L1`` (Chen et al., NeurIPS 2019).
- :class:`STProtoPNetLoss`: the loss of one ST-ProtoPNet branch (Wang et al.,
  ICCV 2023): ``CE - 0.8 * cluster + w_sep * separation + 1e-3 * orth +
  1e-4 * L1`` plus closeness (support branch) or discrimination (trivial
  branch).

Prototype ``p`` belongs to class ``prototype_class[p]``; pruned prototypes
(``valid[p]`` False) are left out of every term.
"""
import weakref
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmfg.registry import MODELS

__all__ = [
    'own_class_mask', 'cluster_cost', 'separation_cost', 'masked_l1',
    'class_pair_similarity', 'closeness_cost', 'discrimination_cost',
    'orthogonality_cost', 'ProtoPNetLoss', 'STProtoPNetLoss'
]


def own_class_mask(labels: Tensor, prototype_class: Tensor,
                   valid: Optional[Tensor] = None) -> Tensor:
    """``(B, P)`` bool: prototype ``p`` belongs to the class of image ``b``.

    Args:
        labels (Tensor): ``(B,)`` class indices.
        prototype_class (Tensor): ``(P,)`` class of each prototype.
        valid (Tensor, optional): ``(P,)`` bool, False for pruned ones.
    """
    own = prototype_class[None, :] == labels[:, None].long()
    if valid is not None:
        own = own & valid[None, :]
    return own


def _masked_reduce(x: Tensor, mask: Tensor, mode: str) -> Tensor:
    """Row-wise min/max of ``x (B, P)`` over ``mask``; mean over rows that
    have at least one masked entry (0 when none has)."""
    fill = float('inf') if mode == 'min' else float('-inf')
    xm = x.masked_fill(~mask, fill)
    red = xm.min(1).values if mode == 'min' else xm.max(1).values
    has = mask.any(1)
    red = torch.where(has, red, torch.zeros_like(red))
    return red.sum() / has.sum().clamp_min(1)


def cluster_cost(scores: Tensor,
                 labels: Tensor,
                 prototype_class: Tensor,
                 valid: Optional[Tensor] = None,
                 similarity: bool = False) -> Tensor:
    """Cluster cost: each image close to some prototype of its class.

    Args:
        scores (Tensor): ``(B, P)`` min-pooled distances (ProtoPNet) or
            max-pooled similarities (``similarity=True``, ST-ProtoPNet).
        labels (Tensor): ``(B,)``.
        prototype_class (Tensor): ``(P,)``.
        valid (Tensor, optional): ``(P,)`` bool.
        similarity (bool): take the max similarity instead of the min
            distance.

    Returns:
        Tensor: scalar, mean over the batch of the min own-class distance
        (or max own-class similarity).
    """
    own = own_class_mask(labels, prototype_class, valid)
    return _masked_reduce(scores, own, 'max' if similarity else 'min')


def separation_cost(scores: Tensor,
                    labels: Tensor,
                    prototype_class: Tensor,
                    valid: Optional[Tensor] = None,
                    similarity: bool = False) -> Tensor:
    """Separation cost: distance to (similarity with) the closest prototype
    of another class.

    Args: as :func:`cluster_cost`.

    Returns:
        Tensor: scalar, mean over the batch of the min other-class distance
        (or max other-class similarity).
    """
    other = ~own_class_mask(labels, prototype_class, None)
    if valid is not None:
        other = other & valid[None, :]
    return _masked_reduce(scores, other, 'max' if similarity else 'min')


def masked_l1(weight: Tensor, prototype_class: Tensor) -> Tensor:
    """L1 norm of the last-layer weights to the wrong classes.

    Args:
        weight (Tensor): ``(C, P)`` last-layer weight.
        prototype_class (Tensor): ``(P,)``.

    Returns:
        Tensor: scalar ``sum |w[c, p]|`` over ``c != class(p)``.
    """
    C = weight.shape[0]
    mask = 1 - F.one_hot(prototype_class, C).t().to(weight.dtype)
    return (weight * mask).abs().sum()


# prototype_class tensors already checked (id -> (weak reference, version,
# K)): the layout check reads values (a host sync), so it runs once per
# tensor state, not every step.
_CHECKED_LAYOUTS: dict = {}


def _class_blocks(prototypes: Tensor, prototype_class: Tensor,
                  num_classes: int) -> int:
    """Check the ``(C * K, D)`` class-major layout and return ``K``.

    The value check runs once per state of ``prototype_class`` (cached by
    identity and version counter) and is skipped under ``torch.compile``.
    """
    P = prototypes.shape[0]
    if P % num_classes:
        raise ValueError(f'{P} prototypes are not a multiple of '
                         f'{num_classes} classes')
    K = P // num_classes
    if torch.compiler.is_compiling():
        return K
    state = (prototype_class._version, K)
    seen = _CHECKED_LAYOUTS.get(id(prototype_class))
    if seen is not None and seen[0]() is prototype_class and \
            seen[1:] == state:
        return K
    expect = torch.arange(P, device=prototype_class.device) // K
    if torch.equal(prototype_class, expect):
        if len(_CHECKED_LAYOUTS) > 1024:
            _CHECKED_LAYOUTS.clear()
        _CHECKED_LAYOUTS[id(prototype_class)] = (weakref.ref(prototype_class),
                                                 *state)
    else:
        raise ValueError('class-pair terms need prototypes ordered by class '
                         '(prototype p in class p // K)')
    return K


def class_pair_similarity(prototypes: Tensor,
                          prototype_class: Tensor,
                          num_classes: int,
                          reduce: str = 'min',
                          valid: Optional[Tensor] = None) -> Tensor:
    """Similarity of every class pair's prototypes, by one matmul.

    ``S[c, c'] = reduce_{i in c, j in c'} <p_i, p_j>`` from the ``(P, P)``
    Gram matrix reshaped to ``(C, K, C, K)`` (the official code builds a
    ``(C, K, D, C, K)`` tensor instead).

    Args:
        prototypes (Tensor): ``(P, D)``, class-major (``P = C * K``).
        prototype_class (Tensor): ``(P,)``.
        num_classes (int): ``C``.
        reduce (str): ``'min'`` or ``'max'``.
        valid (Tensor, optional): ``(P,)`` bool; pruned prototypes ignored.

    Returns:
        Tensor: ``(C, C)``.
    """
    if reduce not in ('min', 'max'):
        raise ValueError(f"reduce must be 'min' or 'max', got {reduce!r}")
    K = _class_blocks(prototypes, prototype_class, num_classes)
    C = num_classes
    gram = prototypes @ prototypes.t()  # (P, P)
    if valid is not None:
        ok = valid[:, None] & valid[None, :]
        fill = float('inf') if reduce == 'min' else float('-inf')
        gram = gram.masked_fill(~ok, fill)
    g = gram.view(C, K, C, K)
    return g.amin(dim=(1, 3)) if reduce == 'min' else g.amax(dim=(1, 3))


def _off_diagonal_mean(s: Tensor) -> Tensor:
    C = s.shape[0]
    off = ~torch.eye(C, dtype=torch.bool, device=s.device)
    off = off & torch.isfinite(s)
    return s[off].sum() / off.sum().clamp_min(1)


def closeness_cost(prototypes: Tensor,
                   prototype_class: Tensor,
                   num_classes: int,
                   valid: Optional[Tensor] = None) -> Tensor:
    """ST-ProtoPNet closeness (support prototypes near the boundary):
    ``-mean_{c != c'} min_{i in c, j in c'} <p_i, p_j>``."""
    s = class_pair_similarity(prototypes, prototype_class, num_classes,
                              'min', valid)
    return -_off_diagonal_mean(s)


def discrimination_cost(prototypes: Tensor,
                        prototype_class: Tensor,
                        num_classes: int,
                        valid: Optional[Tensor] = None) -> Tensor:
    """ST-ProtoPNet discrimination (trivial prototypes apart):
    ``mean_{c != c'} max_{i in c, j in c'} <p_i, p_j>``."""
    s = class_pair_similarity(prototypes, prototype_class, num_classes,
                              'max', valid)
    return _off_diagonal_mean(s)


def orthogonality_cost(prototypes: Tensor,
                       prototype_class: Tensor,
                       num_classes: int,
                       valid: Optional[Tensor] = None) -> Tensor:
    """``sum_c || P_c P_c^T - I ||_1`` (entrywise L1), batched over classes.

    Args:
        prototypes (Tensor): ``(P, D)`` class-major.
        prototype_class (Tensor): ``(P,)``.
        num_classes (int): ``C``.
        valid (Tensor, optional): ``(P,)`` bool; pruned rows are zeroed.

    Returns:
        Tensor: scalar.
    """
    K = _class_blocks(prototypes, prototype_class, num_classes)
    p = prototypes
    if valid is not None:
        p = p * valid[:, None].to(p.dtype)
    pc = p.view(num_classes, K, -1)  # (C, K, D)
    eye = torch.eye(K, device=p.device, dtype=p.dtype)
    return (torch.bmm(pc, pc.transpose(1, 2)) - eye).abs().sum()


@MODELS.register_module()
class ProtoPNetLoss(nn.Module):
    """ProtoPNet objective.

    ``ce_weight * CE + cluster_weight * cluster + separation_weight *
    separation + l1_weight * masked_L1`` with cluster / separation computed
    on min-pooled squared L2 distances.

    Args:
        ce_weight (float): 1.
        cluster_weight (float): 0.8.
        separation_weight (float): -0.08 (separation is a distance to
            maximise).
        l1_weight (float): 1e-4.
        class_specific (bool): False keeps only CE and a plain L1 (the
            official ``class_specific=False`` variant).
    """

    def __init__(self,
                 ce_weight: float = 1.0,
                 cluster_weight: float = 0.8,
                 separation_weight: float = -0.08,
                 l1_weight: float = 1e-4,
                 class_specific: bool = True) -> None:
        super().__init__()
        self.ce_weight = ce_weight
        self.cluster_weight = cluster_weight
        self.separation_weight = separation_weight
        self.l1_weight = l1_weight
        self.class_specific = class_specific

    def forward(self,
                logits: Tensor,
                min_dist: Tensor,
                labels: Tensor,
                prototype_class: Tensor,
                last_weight: Tensor,
                valid: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Compute the loss terms.

        Args:
            logits (Tensor): ``(B, C)``.
            min_dist (Tensor): ``(B, P)`` min-pooled squared L2 distances.
            labels (Tensor): ``(B,)``.
            prototype_class (Tensor): ``(P,)``.
            last_weight (Tensor): ``(C, P)``.
            valid (Tensor, optional): ``(P,)`` bool.

        Returns:
            dict: weighted ``loss_ce``, ``loss_cluster``,
            ``loss_separation``, ``loss_l1`` (summed by MMEngine) and the
            unweighted, detached ``cluster_dist`` / ``separation_dist``
            (logged only).
        """
        labels = labels.long()
        losses = dict(
            loss_ce=self.ce_weight *
            F.cross_entropy(logits.float(), labels))
        if not self.class_specific:
            losses['loss_l1'] = self.l1_weight * last_weight.abs().sum()
            return losses
        clst = cluster_cost(min_dist, labels, prototype_class, valid)
        sep = separation_cost(min_dist, labels, prototype_class, valid)
        losses['loss_cluster'] = self.cluster_weight * clst
        losses['loss_separation'] = self.separation_weight * sep
        losses['loss_l1'] = self.l1_weight * masked_l1(
            last_weight, prototype_class)
        losses['cluster_dist'] = clst.detach()
        losses['separation_dist'] = sep.detach()
        return losses


@MODELS.register_module()
class STProtoPNetLoss(nn.Module):
    """The loss of one ST-ProtoPNet branch (trivial or support).

    ``ce_weight * CE + cluster_weight * cluster + separation_weight *
    separation + orth_weight * orth + l1_weight * masked_L1 +
    closeness_weight * closeness + discrimination_weight * discrimination``
    with cluster / separation on max-pooled cosine similarities. Official
    weights: trivial ``separation_weight=0.08, discrimination_weight=1``;
    support ``separation_weight=0.48, closeness_weight=1``; both
    ``cluster_weight=-0.8, orth_weight=1e-3, l1_weight=1e-4``.

    Args:
        ce_weight (float): CE weight.
        cluster_weight (float): cluster weight (negative: maximise).
        separation_weight (float): separation weight.
        orth_weight (float): orthogonality weight.
        l1_weight (float): masked L1 weight.
        closeness_weight (float): closeness weight (support branch).
        discrimination_weight (float): discrimination weight (trivial).
        prefix (str): prefix of the returned keys, e.g. ``'trivial'``.
    """

    def __init__(self,
                 ce_weight: float = 1.0,
                 cluster_weight: float = -0.8,
                 separation_weight: float = 0.08,
                 orth_weight: float = 1e-3,
                 l1_weight: float = 1e-4,
                 closeness_weight: float = 0.0,
                 discrimination_weight: float = 0.0,
                 prefix: str = '') -> None:
        super().__init__()
        self.ce_weight = ce_weight
        self.cluster_weight = cluster_weight
        self.separation_weight = separation_weight
        self.orth_weight = orth_weight
        self.l1_weight = l1_weight
        self.closeness_weight = closeness_weight
        self.discrimination_weight = discrimination_weight
        self.prefix = prefix

    def _key(self, name: str) -> str:
        return f'loss_{self.prefix}_{name}' if self.prefix else \
            f'loss_{name}'

    def forward(self,
                logits: Tensor,
                sim: Tensor,
                labels: Tensor,
                prototypes: Tensor,
                prototype_class: Tensor,
                last_weight: Tensor,
                valid: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Compute the loss terms of one branch.

        Args:
            logits (Tensor): ``(B, C)`` this branch's logits.
            sim (Tensor): ``(B, P)`` max-pooled similarities.
            labels (Tensor): ``(B,)``.
            prototypes (Tensor): ``(P, D)`` this branch's prototypes, as
                stored (unit norm after every step).
            prototype_class (Tensor): ``(P,)``.
            last_weight (Tensor): ``(C, P)``.
            valid (Tensor, optional): ``(P,)`` bool.

        Returns:
            dict: weighted terms (keys ``loss_{prefix}_{term}``; zero-weight
            terms are skipped).
        """
        labels = labels.long()
        C = last_weight.shape[0]
        k = self._key
        out = {k('ce'): self.ce_weight *
               F.cross_entropy(logits.float(), labels)}
        p = prototypes.float()
        if self.cluster_weight:
            out[k('cluster')] = self.cluster_weight * cluster_cost(
                sim, labels, prototype_class, valid, similarity=True)
        if self.separation_weight:
            out[k('separation')] = self.separation_weight * separation_cost(
                sim, labels, prototype_class, valid, similarity=True)
        if self.orth_weight:
            out[k('orth')] = self.orth_weight * orthogonality_cost(
                p, prototype_class, C, valid)
        if self.closeness_weight:
            out[k('closeness')] = self.closeness_weight * closeness_cost(
                p, prototype_class, C, valid)
        if self.discrimination_weight:
            out[k('discrimination')] = self.discrimination_weight * \
                discrimination_cost(p, prototype_class, C, valid)
        if self.l1_weight:
            out[k('l1')] = self.l1_weight * masked_l1(last_weight,
                                                      prototype_class)
        return out

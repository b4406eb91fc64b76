"""Relational knowledge distillation losses (RKD, Park et al., CVPR 2019),
the knowledge transfer between the members of a DMML cohort.

The student matches the *structure* of the teacher's batch of embeddings,
not the embeddings themselves (so members of different widths can teach
each other):

* **distance**: pairwise distances ``d_ij = |x_i - x_j|``, each matrix
  divided by the mean of its off-diagonal entries; Huber (smooth-L1,
  ``beta=1``) between student and teacher, averaged over the ``N (N - 1)``
  pairs ``i != j``.
* **angle**: for every vertex ``i`` and pair ``(j, k)`` the cosine of the
  angle at ``x_i`` between ``x_j - x_i`` and ``x_k - x_i``; Huber averaged
  over the ``N (N - 1)^2`` triplets with ``j != i`` and ``k != i``.

Both are computed from the Gram matrix ``G = X X^T`` only:
``<x_j - x_i, x_k - x_i> = G_jk - G_ij - G_ik + G_ii`` and
``|x_j - x_i| = sqrt(G_ii + G_jj - 2 G_ij)``, so the angle tensor costs
``N^3`` numbers and never an ``N x N x D`` difference tensor (the usual
implementation materialises it).

The teacher's embeddings are detached. The losses are batch losses: under
DDP each rank computes them on its own batch (relations between samples of
different ranks are not used) and DDP averages the gradients.
"""
from typing import Dict, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmfg.models.utils.distances import float32_distance, pairwise_squared_l2
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = [
    'rkd_distance_matrix', 'rkd_angle_tensor', 'rkd_distance_loss',
    'rkd_angle_loss', 'RKDLoss'
]


def _off_diagonal(n: int, device) -> Tensor:
    return ~torch.eye(n, dtype=torch.bool, device=device)


def rkd_distance_matrix(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Pairwise distances divided by their off-diagonal mean.

    Args:
        x (Tensor): ``(N, D)`` embeddings, ``N >= 2``.
        eps (float): floor of squared distances and of the mean.

    Returns:
        Tensor: ``(N, N)``, zero diagonal, off-diagonal mean 1.
    """
    n = x.shape[0]
    off = _off_diagonal(n, x.device)
    d = pairwise_squared_l2(x, x).clamp_min(eps).sqrt() * off
    mean = d.sum() / max(n * (n - 1), 1)
    return d / mean.clamp_min(eps)


@float32_distance
def rkd_angle_tensor(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Cosine of the angle at each vertex, from the Gram matrix (float32,
    autocast off: the Gram form cancels in half precision).

    Args:
        x (Tensor): ``(N, D)`` embeddings.
        eps (float): floor of squared lengths.

    Returns:
        Tensor: ``(N, N, N)``; ``[i, j, k]`` is
        ``cos angle(x_j - x_i, x_k - x_i)`` (0 where ``j == i`` or
        ``k == i``).
    """
    n = x.shape[0]
    g = x @ x.t()  # (N, N)
    diag = g.diagonal()
    # dot[i, j, k] = G_jk - G_ij - G_ik + G_ii
    dot = (g.unsqueeze(0) - g.unsqueeze(2) - g.unsqueeze(1) +
           diag.view(n, 1, 1))
    off = _off_diagonal(n, x.device)
    sq = (diag.unsqueeze(1) + diag.unsqueeze(0) - 2 * g).clamp_min(eps)
    inv = sq.rsqrt() * off  # inv[i, j] = 1 / |x_j - x_i|, 0 on i == j
    return dot * inv.unsqueeze(2) * inv.unsqueeze(1)


def rkd_distance_loss(student: Tensor, teacher: Tensor,
                      beta: float = 1.0) -> Tensor:
    """RKD distance loss (see the module docstring).

    Args:
        student (Tensor): ``(N, D_s)``.
        teacher (Tensor): ``(N, D_t)`` (detached here).
        beta (float): Huber threshold.

    Returns:
        Tensor: scalar.
    """
    n = student.shape[0]
    if n < 2:
        return student.sum() * 0
    with torch.no_grad():
        t = rkd_distance_matrix(teacher.detach().float())
    s = rkd_distance_matrix(student.float())
    off = _off_diagonal(n, student.device)
    loss = F.smooth_l1_loss(s, t, reduction='none', beta=beta) * off
    return loss.sum() / (n * (n - 1))


def rkd_angle_loss(student: Tensor, teacher: Tensor,
                   beta: float = 1.0) -> Tensor:
    """RKD angle loss (see the module docstring).

    Args:
        student (Tensor): ``(N, D_s)``.
        teacher (Tensor): ``(N, D_t)`` (detached here).
        beta (float): Huber threshold.

    Returns:
        Tensor: scalar.
    """
    n = student.shape[0]
    if n < 2:
        return student.sum() * 0
    with torch.no_grad():
        t = rkd_angle_tensor(teacher.detach().float())
    s = rkd_angle_tensor(student.float())
    off = _off_diagonal(n, student.device)
    valid = off.unsqueeze(2) & off.unsqueeze(1)  # j != i and k != i
    loss = F.smooth_l1_loss(s, t, reduction='none', beta=beta) * valid
    return loss.sum() / (n * (n - 1)**2)


@MODELS.register_module()
class RKDLoss(nn.Module):
    """Relational knowledge transfer from a teacher batch to a student batch.

    ``loss = distance_weight * L_dist + angle_weight * L_angle``
    (RKD's metric-learning weights are 1 and 2).

    Args:
        distance_weight (float): weight of the distance loss.
        angle_weight (float): weight of the angle loss.
        beta (float): Huber threshold of both.
        loss_weight (float): factor on the sum.
    """

    def __init__(self,
                 distance_weight: float = 1.0,
                 angle_weight: float = 2.0,
                 beta: float = 1.0,
                 loss_weight: float = 1.0):
        super().__init__()
        if distance_weight < 0 or angle_weight < 0:
            raise ConfigError('RKDLoss: distance_weight and angle_weight '
                              'must be >= 0.')
        self.distance_weight = float(distance_weight)
        self.angle_weight = float(angle_weight)
        self.beta = float(beta)
        self.loss_weight = float(loss_weight)

    def forward(self,
                student: Tensor,
                teacher: Tensor,
                return_parts: bool = False
                ) -> Union[Tensor, Dict[str, Tensor]]:
        """Compute the loss.

        Args:
            student (Tensor): ``(N, D_s)`` student embeddings.
            teacher (Tensor): ``(N, D_t)`` teacher embeddings (no gradient
                flows into them).
            return_parts (bool): return ``dict(distance=..., angle=...)``
                (weighted) instead of their sum.

        Returns:
            Tensor | dict: scalar loss, or its two weighted parts.
        """
        if student.shape[0] != teacher.shape[0]:
            raise ValueError(
                f'RKDLoss: student has {student.shape[0]} samples, teacher '
                f'{teacher.shape[0]}; they must embed the same batch.')
        parts = {}
        zero = student.sum() * 0
        parts['distance'] = (
            self.loss_weight * self.distance_weight *
            rkd_distance_loss(student, teacher, self.beta)
            if self.distance_weight else zero)
        parts['angle'] = (
            self.loss_weight * self.angle_weight *
            rkd_angle_loss(student, teacher, self.beta)
            if self.angle_weight else zero)
        if return_parts:
            return parts
        return parts['distance'] + parts['angle']

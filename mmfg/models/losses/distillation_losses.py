"""Self-distillation losses of CMD (cross-level multi-instance distillation).

Teacher outputs are centred and sharpened (DINO); the student is trained
with the cross-entropy ``H(P_t, P_s)`` over every (teacher view, student
view) pair of different views:

- image level (:class:`MultiCropDistillLoss` with ``region=False``): one
  distribution per view;
- region level (``region=True``): each student region is matched to its
  most similar teacher region (cosine similarity of backbone patch
  features, EsViT) and distilled from that region's distribution;
- inter level (:class:`MILDistillLoss`): inside one network, the image
  distribution supervises the attention-MIL pooled region distributions
  through ``KL(P_img || sum_n a_n P_n)``, computed on log-probabilities
  (``log sum_n a_n P_n`` by ``logsumexp``). The official code sums the
  probabilities and hands them to ``F.kl_div`` as if they were
  log-probabilities, which is not a KL divergence.

The image-level ``(T, V, B)`` cross-entropies come from one ``einsum``; at
region level the matches of all pairs come from one batched similarity and
argmax, and the matched teacher distributions are gathered for all student
views of a crop size at once per teacher view (``T = 2``), so the work is
``N_s K`` per pair, not ``N_s N_t K`` (see ``tools/benchmarks/bench_cmd.py``).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from torch import Tensor, nn

from mmfg.registry import MODELS

__all__ = [
    'soft_cross_entropy', 'kl_divergence', 'match_regions',
    'pairwise_view_cross_entropy', 'region_matched_cross_entropy',
    'mil_log_probs', 'MultiCropDistillLoss', 'MILDistillLoss'
]


def soft_cross_entropy(student_logits: Tensor, teacher_probs: Tensor,
                       student_temp: float = 1.0) -> Tensor:
    """``-sum_k P_t[k] log softmax(s / tau_s)[k]`` along the last dim.

    Args:
        student_logits (Tensor): ``(..., K)``.
        teacher_probs (Tensor): ``(..., K)`` rows summing to one.
        student_temp (float): ``tau_s``.

    Returns:
        Tensor: ``(...)``.
    """
    log_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    return -(teacher_probs.float() * log_s).sum(-1)


def kl_divergence(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``KL(P || Q) = sum_k P[k] (log P[k] - log Q[k])`` along the last dim,
    from log-probabilities (``0 log 0 = 0``).

    Args:
        log_p (Tensor): ``(..., K)`` target log-probabilities.
        log_q (Tensor): ``(..., K)`` predicted log-probabilities.

    Returns:
        Tensor: ``(...)``, non-negative.
    """
    return F.kl_div(
        log_q.float(), log_p.float(), reduction='none',
        log_target=True).sum(-1)


def match_regions(student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
    """Index of the most cosine-similar teacher region of each student
    region (ties: lowest index).

    Args:
        student_feats (Tensor): ``(..., N_s, D)``.
        teacher_feats (Tensor): ``(..., N_t, D)`` (same leading dims, or
            broadcastable).

    Returns:
        Tensor: ``(..., N_s)`` int64 in ``[0, N_t)``.
    """
    sim = F.normalize(student_feats.float(), dim=-1) @ F.normalize(
        teacher_feats.float(), dim=-1).transpose(-1, -2)
    return sim.argmax(-1)


def _pair_mask(num_teacher: int, num_student: int, device) -> Tensor:
    """``(T, V)`` True where teacher view ``t`` and student view ``v`` are
    different views (the teacher views are the first student views)."""
    t = torch.arange(num_teacher, device=device)[:, None]
    v = torch.arange(num_student, device=device)[None]
    return t != v


def pairwise_view_cross_entropy(student_logits: Tensor,
                                teacher_probs: Tensor,
                                student_temp: float,
                                view_offset: int = 0) -> Tuple[Tensor, int]:
    """Summed cross-entropy over all (teacher view, other student view)
    pairs and the batch.

    Args:
        student_logits (Tensor): ``(V, B, K)``.
        teacher_probs (Tensor): ``(T, B, K)``; teacher view ``t`` is the
            same image crop as student view ``t - view_offset``.
        student_temp (float): ``tau_s``.
        view_offset (int): index of student view 0 among all views (local
            views follow the globals).

    Returns:
        tuple[Tensor, int]: sum over valid pairs and samples, and the
        number of valid pairs.
    """
    log_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    ce = -torch.einsum('tbk,vbk->tvb', teacher_probs.float(), log_s)
    mask = _pair_mask(teacher_probs.shape[0], log_s.shape[0] + view_offset,
                      log_s.device)[:, view_offset:]
    return (ce.sum(-1) * mask).sum(), int(mask.sum())


def region_matched_cross_entropy(student_logits: Tensor,
                                 teacher_probs: Tensor,
                                 student_feats: Tensor,
                                 teacher_feats: Tensor,
                                 student_temp: float,
                                 view_offset: int = 0) -> Tuple[Tensor, int]:
    """Region-level distillation with region matching, all pairs at once.

    For each pair (teacher view ``t``, student view ``v != t``), sample
    ``b`` and student region ``n``: ``m* = argmax_m cos(f^s_{vbn},
    f^t_{tbm})`` and the loss term is ``H(P^t_{tbm*}, P^s_{vbn})``, averaged
    over the regions.

    Args:
        student_logits (Tensor): ``(V, B, N_s, K)`` region logits.
        teacher_probs (Tensor): ``(T, B, N_t, K)``.
        student_feats (Tensor): ``(V, B, N_s, D)`` features that match.
        teacher_feats (Tensor): ``(T, B, N_t, D)``.
        student_temp (float): ``tau_s``.
        view_offset (int): see :func:`pairwise_view_cross_entropy`.

    Returns:
        tuple[Tensor, int]: sum over valid pairs and samples of the mean
        region cross-entropy, and the number of valid pairs.
    """
    log_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    idx = match_regions(student_feats[None], teacher_feats[:, None])
    V, B, Ns, K = log_s.shape
    ce = []
    for t in range(teacher_probs.shape[0]):  # T (2) teacher views
        # matched teacher distributions of all V student views at once
        matched = teacher_probs[t].float()[None].expand(V, -1, -1, -1).gather(
            2, idx[t][..., None].expand(V, B, Ns, K))
        ce.append(-(matched * log_s).sum(-1).mean(-1))  # (V, B)
    ce = torch.stack(ce)
    mask = _pair_mask(teacher_probs.shape[0], log_s.shape[0] + view_offset,
                      log_s.device)[:, view_offset:]
    return (ce.sum(-1) * mask).sum(), int(mask.sum())


def mil_log_probs(region_log_probs: Tensor, weights: Tensor) -> Tensor:
    """``log sum_n a_n P_n`` of MIL-pooled region distributions.

    Args:
        region_log_probs (Tensor): ``(B, N, K)``.
        weights (Tensor): ``(B, N)`` MIL weights summing to one.

    Returns:
        Tensor: ``(B, K)`` log-probabilities.

    The mixture is one batched matmul on ``exp(log P - s)`` with ``s`` the
    bag's largest log-probability (exact up to terms ``e^-87`` times smaller
    than the bag's largest probability); a ``logsumexp`` over ``N`` gives
    the same numbers in 1.4x the time.
    """
    logp = region_log_probs.float()
    shift = logp.amax(dim=(1, 2), keepdim=True).detach()  # (B, 1, 1)
    mix = torch.bmm(weights.float()[:, None], (logp - shift).exp())
    return mix.squeeze(1).clamp_min(1e-38).log() + shift[:, 0]


@MODELS.register_module()
class MultiCropDistillLoss(nn.Module):
    """Intra-level multi-crop self-distillation with a centred teacher.

    Args:
        out_channels (int): ``K``, the width of the distributions.
        student_temp (float): ``tau_s``. Defaults to 0.1.
        center_momentum (float): ``c <- m c + (1 - m) mean(teacher
            logits)``. Defaults to 0.9.
        region (bool): region-level with region matching (inputs carry a
            region dim). Defaults to False.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 out_channels: int,
                 student_temp: float = 0.1,
                 center_momentum: float = 0.9,
                 region: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.region = region
        self.loss_weight = loss_weight
        self.register_buffer('center', torch.zeros(1, out_channels))

    def teacher_probs(self, teacher_logits: Tensor, temp: float) -> Tensor:
        """Centred and sharpened teacher distributions
        ``softmax((t - c) / temp)``, ``(..., K)``."""
        return F.softmax((teacher_logits.float() - self.center) / temp, -1)

    @torch.no_grad()
    def update_center(self, teacher_logits: Tensor) -> None:
        """EMA of the batch mean of teacher logits ``(..., K)`` (averaged
        over DDP ranks)."""
        flat = teacher_logits.detach().float().reshape(
            -1, teacher_logits.shape[-1])
        mean = flat.sum(0, keepdim=True)
        count = torch.tensor(float(flat.shape[0]), device=flat.device)
        if get_world_size() > 1:
            all_reduce(mean)
            all_reduce(count)
        mean = mean / count
        self.center.mul_(self.center_momentum).add_(
            mean * (1 - self.center_momentum))

    def forward(self,
                student_logits: Sequence[Tensor],
                teacher_probs: Tensor,
                student_feats: Optional[Sequence[Tensor]] = None,
                teacher_feats: Optional[Tensor] = None) -> Tensor:
        """Mean cross-entropy over valid view pairs and samples.

        Args:
            student_logits (Sequence[Tensor]): groups of student views of
                one crop size, the first holding the ``T`` teacher views
                first: each ``(V_g, B, K)`` (image) or ``(V_g, B, N_g, K)``
                (region).
            teacher_probs (Tensor): ``(T, B, K)`` or ``(T, B, N_t, K)``.
            student_feats (Sequence[Tensor], optional): region level only:
                ``(V_g, B, N_g, D)`` per group.
            teacher_feats (Tensor, optional): region level only:
                ``(T, B, N_t, D)``.

        Returns:
            Tensor: scalar loss times ``loss_weight``.
        """
        total, pairs, offset = 0., 0, 0
        for g, logits in enumerate(student_logits):
            if self.region:
                if student_feats is None or teacher_feats is None:
                    raise ValueError('MultiCropDistillLoss(region=True) '
                                     'needs student_feats and teacher_feats.')
                s, n = region_matched_cross_entropy(
                    logits, teacher_probs, student_feats[g], teacher_feats,
                    self.student_temp, offset)
            else:
                s, n = pairwise_view_cross_entropy(logits, teacher_probs,
                                                   self.student_temp, offset)
            total, pairs = total + s, pairs + n
            offset += logits.shape[0]
        batch = teacher_probs.shape[1]
        return self.loss_weight * total / max(pairs * batch, 1)


@MODELS.register_module()
class MILDistillLoss(nn.Module):
    """Inter-level multi-instance distillation ``KL(P_img || P_mil)``.

    ``P_mil = sum_n a_n P_n`` pools the region distributions with
    attention-MIL weights ``a`` (:class:`~mmfg.models.necks.
    AttentionMILPooling`); the image-level distribution of the same network
    and view is the target.

    Args:
        detach_target (bool): stop the gradient through the image-level
            target. Defaults to True.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 detach_target: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.detach_target = detach_target
        self.loss_weight = loss_weight

    def forward(self, image_log_probs: Tensor, region_log_probs: Tensor,
                weights: Tensor) -> Tensor:
        """Mean over the batch of ``KL(P_img || sum_n a_n P_n)``.

        Args:
            image_log_probs (Tensor): ``(B, K)``.
            region_log_probs (Tensor): ``(B, N, K)``.
            weights (Tensor): ``(B, N)`` summing to one over ``N``.

        Returns:
            Tensor: scalar loss times ``loss_weight``.
        """
        target = image_log_probs.detach() if self.detach_target \
            else image_log_probs
        pooled = mil_log_probs(region_log_probs, weights)
        return self.loss_weight * kl_divergence(target, pooled).mean()


def loop_region_loss_reference(student_logits: List[Tensor],
                               teacher_probs: List[Tensor],
                               student_feats: List[Tensor],
                               teacher_feats: List[Tensor],
                               student_temp: float) -> Tensor:
    """Straightforward loop over view pairs, samples and student regions
    (the reference of tests and benchmarks).

    Args:
        student_logits (list[Tensor]): per student view ``(B, N_v, K)``;
            the first ``T`` are the teacher views.
        teacher_probs (list[Tensor]): per teacher view ``(B, N_t, K)``.
        student_feats (list[Tensor]): per student view ``(B, N_v, D)``.
        teacher_feats (list[Tensor]): per teacher view ``(B, N_t, D)``.
        student_temp (float): ``tau_s``.

    Returns:
        Tensor: the mean over pairs and samples of the mean region CE.
    """
    total, count = 0., 0
    for t, (pt, ft) in enumerate(zip(teacher_probs, teacher_feats)):
        for v, (ls, fs) in enumerate(zip(student_logits, student_feats)):
            if v == t:
                continue
            for b in range(ls.shape[0]):
                per = 0.
                for n in range(ls.shape[1]):
                    sims = torch.stack([
                        F.cosine_similarity(fs[b, n], ft[b, m], dim=0)
                        for m in range(ft.shape[1])
                    ])
                    m = int(sims.argmax())
                    logp = F.log_softmax(ls[b, n] / student_temp, -1)
                    per = per - (pt[b, m] * logp).sum()
                total = total + per / ls.shape[1]
                count += 1
    return total / count

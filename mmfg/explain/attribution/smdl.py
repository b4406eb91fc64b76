"""Submodular subset selection attribution (SMDL), GPU-batched.

Public signatures (stable)::

    SMDLScore(forward_fn, image, baseline, masks, target,
              weights=dict(confidence=1., effectiveness=1., consistency=1.,
                           collaboration=1.), chunk_size=64)
        # score(members (n, m) bool) -> (n,) ; .components(members) -> dict
    greedy_select(score_fn, num, budget=None, lazy=False, lazy_batch=8)
        -> dict(order (k,), scores (k,), evaluations int)
    reference_greedy(score_one, num, budget=None) -> (order list, scores)
    smdl_attribution(forward_fn, image, masks, target, baseline=None,
                     weights=None, budget=None, lazy=False, lazy_batch=8,
                     chunk_size=64) -> dict(order, scores, map, ...)

Chen et al., "Less is More: Fewer Interpretable Region via Submodular
Subset Selection" (ICLR 2024). The image is split into ``m`` sub-regions
``V = {M_1..M_m}``; a subset ``S`` is scored by

    F(S) = l1 * s_conf(S) + l2 * s_eff(S) + l3 * s_cons(S) + l4 * s_colla(S)

- confidence ``1 - H(p(x_S)) / log C`` (here from the softmax entropy; the
  paper's evidential variant needs an extra head);
- effectiveness ``sum_{i in S} min_{j in S, j != i} angle(f_i, f_j) / pi``,
  ``f_i`` the model's feature of region ``i`` alone on the baseline
  (a singleton scores 0; the angle is scaled to ``[0, 1]`` as in the
  official code, so with the default weights of 1 no term dominates);
- consistency ``p_target(x_S)``;
- collaboration ``1 - p_target(x_{V \\ S})``;

with ``x_S = image * union(S) + baseline * (1 - union(S))``. The greedy
adds, at every step, the region maximising ``F(S + {c})``; the order is the
attribution (earlier = more important), and the map gives region ``r`` of
rank ``t`` the value ``(m - t) / m``.

How it is batched: the masks ``(m, H, W)`` stay on the device; a step's
candidate unions are one matmul ``members (n, m) @ masks (m, H*W)``; the
images of every candidate subset *and* its complement go through the model
in one forward pass (chunked by ``chunk_size``); the element features and
their pairwise angles are computed once; effectiveness of all candidates is
one masked ``(n, m, m)`` min. No host synchronisation happens inside the
greedy (the remaining candidates are found by a stable sort of the
selection flags). The official implementation needs ``~3 m (m + 1) / 2``
single-image forward passes.

Lazy greedy (Minoux 1978) is offered as an *approximation*: after a full
first step, each step rescores only the ``lazy_batch`` candidates with the
largest stale marginal gains and takes the best of them. For a submodular
``F`` whose best fresh gain is at least every unscored stale gain this is
exact; ``F`` here is only approximately submodular (the paper's
argument holds for its idealised terms), so the order may differ from the
plain greedy. With ``lazy_batch >= m`` it is the plain greedy.
"""
import math
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from mmfg.models.utils.distances import pairwise_cosine_similarity

__all__ = [
    'SMDLScore', 'greedy_select', 'reference_greedy', 'smdl_attribution',
    'effectiveness', 'DEFAULT_WEIGHTS', 'rank_map', 'reference_smdl_score'
]

#: weights of confidence, effectiveness, consistency and collaboration
DEFAULT_WEIGHTS = dict(
    confidence=1., effectiveness=1., consistency=1., collaboration=1.)

#: ``(N, 3, H, W) -> (logits (N, C), features (N, D))``
FeatureForwardFn = Callable[[torch.Tensor],
                            Tuple[torch.Tensor, torch.Tensor]]


def effectiveness(members: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """``sum_{i in S} min_{j in S, j != i} angle[i, j]`` for many subsets.

    Args:
        members (Tensor): ``(n, m)`` bool subset membership.
        angles (Tensor): ``(m, m)`` pairwise angles (:class:`SMDLScore`
            passes them divided by pi, in ``[0, 1]``).

    Returns:
        Tensor: ``(n,)``; subsets of fewer than 2 elements score 0.
    """
    m = angles.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=angles.device)
    pair = members[:, :, None] & members[:, None, :] & ~eye
    a = torch.where(pair, angles, torch.full_like(angles, math.inf))
    mins = a.amin(-1)
    return torch.where(members & torch.isfinite(mins), mins,
                       torch.zeros_like(mins)).sum(-1)


class SMDLScore:
    """The SMDL set function of one image, batched over subsets.

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (logits (N, C),
            features (N, D))``.
        image (Tensor): ``(3, H, W)`` model input.
        baseline (Tensor): ``(3, H, W)`` the "removed" image.
        masks (Tensor): ``(m, H, W)`` bool sub-regions.
        target (int): explained class.
        weights (dict, optional): ``confidence``, ``effectiveness``,
            ``consistency``, ``collaboration`` (missing keys default to 1).
        chunk_size (int): images per forward pass.
    """

    @torch.no_grad()
    def __init__(self,
                 forward_fn: FeatureForwardFn,
                 image: torch.Tensor,
                 baseline: torch.Tensor,
                 masks: torch.Tensor,
                 target: int,
                 weights: Optional[Dict[str, float]] = None,
                 chunk_size: int = 64) -> None:
        if masks.ndim != 3 or masks.shape[1:] != image.shape[1:]:
            raise ValueError(
                f'SMDL: masks of shape {tuple(masks.shape)} do not match the '
                f'image {tuple(image.shape)}; expected (m, '
                f'{image.shape[1]}, {image.shape[2]}).')
        if baseline.shape != image.shape:
            raise ValueError(f'SMDL: baseline {tuple(baseline.shape)} and '
                             f'image {tuple(image.shape)} differ in shape.')
        unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f'SMDL: unknown weights {sorted(unknown)}; use '
                             f'{sorted(DEFAULT_WEIGHTS)}.')
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        self.forward_fn = forward_fn
        self.image = image
        self.baseline = baseline
        self.flat = masks.reshape(masks.shape[0], -1).to(image.dtype)
        self.target = int(target)
        self.chunk_size = int(chunk_size)
        self.num = masks.shape[0]
        # element features and their pairwise angles, once
        eye = torch.eye(self.num, dtype=torch.bool, device=image.device)
        _, feats = self._forward(self._compose(eye)[0])
        cos = pairwise_cosine_similarity(feats.float(), feats.float())
        self.angles = torch.arccos(cos.clamp(-1., 1.)) / math.pi

    def _compose(self, members: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Subset and complement images of ``members (n, m)``."""
        union = (members.to(self.flat.dtype) @ self.flat).clamp(max=1.)
        union = union.view(-1, 1, *self.image.shape[1:])
        diff = self.image - self.baseline
        subset = self.baseline + union * diff
        comp = self.image - union * diff
        return subset, comp

    def _forward(self, images: torch.Tensor):
        logits, feats = [], []
        for s in range(0, images.shape[0], self.chunk_size):
            lo, fe = self.forward_fn(images[s:s + self.chunk_size])
            logits.append(lo)
            feats.append(fe)
        return torch.cat(logits), torch.cat(feats)

    @torch.no_grad()
    def components(self, members: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The four terms of every subset.

        Args:
            members (Tensor): ``(n, m)`` bool.

        Returns:
            dict: ``confidence``, ``effectiveness``, ``consistency``,
            ``collaboration``, each ``(n,)``.
        """
        n = members.shape[0]
        subset, comp = self._compose(members)
        # subset and complement in one forward pass
        logits, _ = self._forward(torch.cat([subset, comp]))
        probs = logits.float().softmax(-1)
        p_sub, p_comp = probs[:n], probs[n:]
        ent = -(p_sub * p_sub.clamp(min=1e-12).log()).sum(-1)
        return dict(
            confidence=1. - ent / math.log(probs.shape[-1]),
            effectiveness=effectiveness(members, self.angles),
            consistency=p_sub[:, self.target],
            collaboration=1. - p_comp[:, self.target])

    def __call__(self, members: torch.Tensor) -> torch.Tensor:
        """``F(S)`` of every subset of ``members (n, m)`` -> ``(n,)``."""
        comps = self.components(members)
        return sum(self.weights[k] * v for k, v in comps.items())


def greedy_select(score_fn: Callable[[torch.Tensor], torch.Tensor],
                  num: int,
                  budget: Optional[int] = None,
                  lazy: bool = False,
                  lazy_batch: int = 8,
                  device: Optional[torch.device] = None
                  ) -> Dict[str, torch.Tensor]:
    """Greedy maximisation of a set function, one batched call per step.

    Args:
        score_fn (Callable): ``members (n, num) bool -> (n,)`` set values.
        num (int): ground-set size ``m``.
        budget (int, optional): elements to select (default all ``m``).
        lazy (bool): lazy greedy (approximate; see the module docstring).
        lazy_batch (int): candidates rescored per lazy step.
        device: device of the membership tensors.

    Returns:
        dict: ``order (k,)`` int64 selected elements, ``scores (k,)`` the
        set value after each step, ``evaluations`` (int) subsets scored.
    """
    k = num if budget is None else min(int(budget), num)
    sel = torch.zeros(num, dtype=torch.bool, device=device)
    bound = torch.full((num, ), math.inf, device=device)
    current = None
    order, scores = [], []
    evaluations = 0
    for t in range(k):
        remaining = num - t
        if lazy and t > 0 and lazy_batch < remaining:
            stale = torch.where(sel, torch.full_like(bound, -math.inf),
                                bound)
            cand = stale.topk(lazy_batch).indices
        else:
            # unselected elements first, in index order (no host sync)
            cand = torch.sort(sel.to(torch.uint8), stable=True)[1][:remaining]
        members = sel.expand(cand.numel(), num).clone()
        members[torch.arange(cand.numel(), device=device), cand] = True
        vals = score_fn(members)
        evaluations += cand.numel()
        best = vals.argmax()
        if lazy:
            base = vals.new_zeros(()) if current is None else current
            bound[cand] = (vals - base).to(bound.dtype)
        idx = cand[best]
        current = vals[best]
        sel[idx] = True
        order.append(idx)
        scores.append(current)
    return dict(
        order=torch.stack(order) if order else torch.zeros(
            0, dtype=torch.long, device=device),
        scores=torch.stack(scores) if scores else torch.zeros(
            0, device=device),
        evaluations=evaluations)


def reference_greedy(score_one: Callable[[List[int]], float],
                     num: int,
                     budget: Optional[int] = None
                     ) -> Tuple[List[int], List[float]]:
    """The plain greedy: every candidate scored on its own.

    Slow on purpose: the reference :func:`greedy_select` is tested and
    benchmarked against.

    Args:
        score_one (Callable): ``list of element indices -> float``.
        num (int): ground-set size.
        budget (int, optional): elements to select.

    Returns:
        tuple: ``order`` and the set value after each step.
    """
    k = num if budget is None else min(int(budget), num)
    chosen: List[int] = []
    values: List[float] = []
    for _ in range(k):
        best, best_val = None, -math.inf
        for c in range(num):
            if c in chosen:
                continue
            v = float(score_one(chosen + [c]))
            if v > best_val:
                best, best_val = c, v
        chosen.append(best)
        values.append(best_val)
    return chosen, values


def reference_smdl_score(forward_fn: FeatureForwardFn, image: torch.Tensor,
                         baseline: torch.Tensor, masks: torch.Tensor,
                         target: int,
                         weights: Optional[Dict[str, float]] = None
                         ) -> Callable[[List[int]], float]:
    """``F(S)`` of one subset at a time, two single-image forward passes.

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (logits, features)``.
        image (Tensor): ``(3, H, W)``.
        baseline (Tensor): ``(3, H, W)``.
        masks (Tensor): ``(m, H, W)`` bool.
        target (int): class.
        weights (dict, optional): see :class:`SMDLScore`.

    Returns:
        Callable: ``list[int] -> float``.
    """
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    feats = []
    with torch.no_grad():
        for i in range(masks.shape[0]):
            x = torch.where(masks[i], image, baseline)
            feats.append(forward_fn(x[None])[1][0].float())

    def angle(i: int, j: int) -> float:
        c = F.cosine_similarity(feats[i], feats[j], dim=0, eps=1e-8)
        return math.acos(max(-1., min(1., float(c)))) / math.pi

    @torch.no_grad()
    def score(subset: List[int]) -> float:
        union = torch.zeros_like(masks[0])
        for i in subset:
            union = union | masks[i]
        p_sub = forward_fn(torch.where(union, image,
                                       baseline)[None])[0][0].float()
        p_sub = p_sub.softmax(-1)
        p_comp = forward_fn(torch.where(union, baseline,
                                        image)[None])[0][0].float()
        p_comp = p_comp.softmax(-1)
        ent = float(-(p_sub * p_sub.clamp(min=1e-12).log()).sum())
        eff = 0.
        if len(subset) > 1:
            for i in subset:
                eff += min(angle(i, j) for j in subset if j != i)
        return (w['confidence'] * (1 - ent / math.log(p_sub.numel())) +
                w['effectiveness'] * eff +
                w['consistency'] * float(p_sub[target]) +
                w['collaboration'] * (1 - float(p_comp[target])))

    return score


def rank_map(masks: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Attribution map of an ordered selection: region of rank ``t`` (of
    ``m``) gets ``(m - t) / m``, unselected pixels 0.

    Args:
        masks (Tensor): ``(m, H, W)`` bool.
        order (Tensor): ``(k,)`` selected region indices.

    Returns:
        Tensor: ``(H, W)`` float (overlaps keep the larger value).
    """
    m = masks.shape[0]
    vals = (m - torch.arange(order.numel(), device=masks.device)) / m
    per = torch.zeros(m, device=masks.device)
    per[order] = vals.float()
    return (masks.float() * per.view(-1, 1, 1)).amax(0)


def smdl_attribution(forward_fn: FeatureForwardFn,
                     image: torch.Tensor,
                     masks: torch.Tensor,
                     target: int,
                     baseline: Optional[torch.Tensor] = None,
                     weights: Optional[Dict[str, float]] = None,
                     budget: Optional[int] = None,
                     lazy: bool = False,
                     lazy_batch: int = 8,
                     chunk_size: int = 64) -> Dict[str, torch.Tensor]:
    """SMDL attribution of one image.

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (logits (N, C),
            features (N, D))``.
        image (Tensor): ``(3, H, W)`` model input.
        masks (Tensor): ``(m, H, W)`` bool sub-regions.
        target (int): explained class.
        baseline (Tensor, optional): ``(3, H, W)``; zeros by default.
        weights (dict, optional): see :class:`SMDLScore`.
        budget (int, optional): regions to select (default all).
        lazy (bool): lazy greedy (approximate).
        lazy_batch (int): candidates rescored per lazy step.
        chunk_size (int): images per forward pass.

    Returns:
        dict: ``order (k,)``, ``scores (k,)`` (``F`` after each step),
        ``map (H, W)`` (:func:`rank_map`), ``masks (m, H, W)``,
        ``evaluations`` (subsets scored).
    """
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise ValueError('SMDL: masks must be a non-empty (m, H, W) stack, '
                         f'got shape {tuple(masks.shape)}.')
    masks = masks.to(image.device).bool()
    if baseline is None:
        baseline = torch.zeros_like(image)
    scorer = SMDLScore(forward_fn, image, baseline, masks, target, weights,
                       chunk_size)
    res = greedy_select(scorer, masks.shape[0], budget, lazy, lazy_batch,
                        device=image.device)
    res['map'] = rank_map(masks, res['order'])
    res['masks'] = masks
    return res

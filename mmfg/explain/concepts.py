"""Concept explanations of concept transformers (CT / CCT): pure functions.

- :func:`spatial_concept_maps`: per-patch spatial-concept attention
  ``(B, N, S)`` → maps ``(B, S, H, W)`` at the input resolution.
- :func:`concept_agreement`: how well concept scores agree with the
  attributes an image has (precision at ``k`` = number of present
  attributes; a random ranking scores the fraction present).
- :func:`concept_explanations`: the dicts ``CCTHead.explain`` returns (top
  classes, every global concept score, top spatial concepts with maps),
  rendered by :func:`mmfg.visualization.render_concept_explanation`.

No I/O here; :mod:`mmfg.visualization.concepts` draws, :mod:`mmfg.apis`
writes files.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .prototypes import upsample_activation

__all__ = [
    'spatial_concept_maps', 'concept_agreement', 'concept_explanations'
]


def spatial_concept_maps(spatial_attn: Tensor, grid: Tuple[int, int],
                         img_hw: Optional[Sequence[int]] = None) -> Tensor:
    """Patch attention of every spatial concept as an image-sized map.

    Args:
        spatial_attn (Tensor): ``(B, N, S)`` attention of each patch over the
            spatial concepts.
        grid (tuple[int, int]): patch grid ``(h, w)`` with ``h * w = N``.
        img_hw (Sequence[int], optional): upsample (bicubic) to ``(H, W)``.

    Returns:
        Tensor: ``(B, S, h, w)`` or ``(B, S, H, W)`` float32.
    """
    B, N, S = spatial_attn.shape
    h, w = grid
    if h * w != N:
        raise ValueError(f'grid {grid} does not hold {N} patches')
    maps = spatial_attn.float().transpose(1, 2).reshape(B, S, h, w)
    if img_hw is None:
        return maps
    return upsample_activation(maps, tuple(int(v) for v in img_hw[:2]))


def concept_agreement(scores: Tensor, present: Tensor) -> Tensor:
    """Precision of the top-``k`` concepts, ``k`` = attributes present.

    Args:
        scores (Tensor): ``(B, K)`` concept scores (any monotone scale).
        present (Tensor): ``(B, K)`` 0/1, the concept's attribute is present.

    Returns:
        Tensor: ``(B,)`` in ``[0, 1]``; NaN for images with no attribute
        present.
    """
    present = present.float()
    k = present.sum(1)  # (B,)
    rank = scores.float().argsort(1, descending=True).argsort(1)  # 0 = top
    in_top = (rank < k[:, None]).float()
    hits = (in_top * present).sum(1)
    return torch.where(k > 0, hits / k.clamp_min(1.),
                       torch.full_like(k, float('nan')))


def concept_explanations(logits: Tensor,
                         global_attn: Optional[Tensor],
                         spatial_attn: Optional[Tensor],
                         grid: Tuple[int, int],
                         img_hw: Sequence[int],
                         global_names: Sequence[str] = (),
                         spatial_names: Sequence[str] = (),
                         topk_classes: int = 3,
                         topk_concepts: int = 5,
                         classes: Optional[Sequence[str]] = None,
                         gt_labels: Optional[Sequence[Optional[int]]] = None
                         ) -> List[Dict[str, Any]]:
    """Explanations of a batch.

    Args:
        logits (Tensor): ``(B, C)``.
        global_attn (Tensor, optional): ``(B, G)`` global-concept attention
            of the class token.
        spatial_attn (Tensor, optional): ``(B, N, S)`` spatial-concept
            attention of every patch.
        grid (tuple[int, int]): patch grid ``(h, w)``.
        img_hw (Sequence[int]): input ``(H, W)``.
        global_names (Sequence[str]): ``G`` concept names.
        spatial_names (Sequence[str]): ``S`` concept names.
        topk_classes (int): classes listed.
        topk_concepts (int): spatial concepts with a map (ranked by their
            mean attention over the patches).
        classes (Sequence[str], optional): class names.
        gt_labels (Sequence[int | None], optional): per image.

    Returns:
        list[dict]: one per image, keys ``type='cct'``, ``img_shape``,
        ``pred_label``, ``gt_label``, ``classes`` (``class``, ``name``,
        ``score``), ``global_concepts`` (every global concept, highest
        first: ``index``, ``name``, ``score``), ``spatial_concepts`` (top
        ones: ``index``, ``name``, ``score`` = mean attention, ``peak``,
        ``heatmap`` float32 ``(H, W)``), ``spatial_scores`` (all ``S``),
        ``grid``.
    """
    B = logits.shape[0]
    H, W = int(img_hw[0]), int(img_hw[1])
    probs = logits.float().softmax(-1)
    top_p, top_c = probs.topk(min(topk_classes, probs.shape[1]), dim=1)

    def cname(c: int) -> str:
        return str(classes[c]) if classes is not None and c < len(
            classes) else str(c)

    maps = sel = sp_scores = None
    if spatial_attn is not None:
        sp_scores = spatial_attn.float().mean(1)  # (B, S)
        k = min(topk_concepts, sp_scores.shape[1])
        sel = sp_scores.topk(k, dim=1).indices  # (B, k)
        chosen = spatial_attn.float().gather(
            2, sel[:, None, :].expand(-1, spatial_attn.shape[1], -1))
        maps = spatial_concept_maps(chosen, grid, (H, W)).cpu().numpy()
        peaks = chosen.amax(1)
    out = []
    for b in range(B):  # per image: building the dicts only
        expl: Dict[str, Any] = dict(
            type='cct',
            img_shape=[H, W],
            grid=[int(grid[0]), int(grid[1])],
            pred_label=int(top_c[b, 0]),
            gt_label=None if gt_labels is None else gt_labels[b],
            classes=[{
                'class': int(c),
                'name': cname(int(c)),
                'score': float(p)
            } for p, c in zip(top_p[b].tolist(), top_c[b].tolist())])
        if global_attn is not None:
            g = global_attn[b].float().cpu()
            order = g.argsort(descending=True).tolist()
            expl['global_concepts'] = [
                dict(index=i, name=_name(global_names, i), score=float(g[i]))
                for i in order
            ]
        if sel is not None:
            expl['spatial_scores'] = sp_scores[b].cpu().tolist()
            expl['spatial_concepts'] = [
                dict(
                    index=int(s),
                    name=_name(spatial_names, int(s)),
                    score=float(sp_scores[b, s]),
                    peak=float(peaks[b, j]),
                    heatmap=np.ascontiguousarray(maps[b, j],
                                                 dtype=np.float32))
                for j, s in enumerate(sel[b].tolist())
            ]
        out.append(expl)
    return out


def _name(names: Sequence[str], i: int) -> str:
    return str(names[i]) if i < len(names) else f'concept{i}'

"""Interpretability metrics of prototype networks, as MMEngine metrics.

They read what a prototype head's ``predict`` attaches to each data sample
(``proto_loc (P, 2)`` argmax pixel of each prototype's upsampled activation,
``proto_sim (P,)``, ``proto_contrib (P,)``, ``proto_class (P,)``,
``proto_valid (P,)``) and the part / box annotations the pipeline packs
(``gt_parts (Q, 3)`` ``x, y, visible`` and ``gt_bboxes (N, 4)`` in input
pixels). Stability also needs ``proto_loc_noisy`` from
:class:`~mmfg.engine.hooks.PrototypeStabilityHook`.

- :class:`PrototypeConsistency` and :class:`PrototypeStability` follow Huang
  et al., "Evaluation and Improvement of Interpretability for
  Self-Explainable Part-Prototype Networks" (ICCV 2023): for each prototype
  of an image's class, a ``2 * half_size`` square box (72 px at 224 input)
  around the argmax; a part is hit when its keypoint lies in the box
  (bounds inclusive). Consistent: some part is hit in at least
  ``part_thresh`` (80%) of the class images where it is visible. Stable: the
  image's part-hit vector is unchanged under noise.
- :class:`PrototypePurity`: for each prototype, its ``top_k`` most activated
  images (any class); purity is the largest fraction of them whose box hits
  the same part.
- :class:`ExplanationSparsity`: how many prototypes carry ``mass`` (90%) of
  the positive evidence for the predicted class.
- :class:`PrototypePartLocalization`: where the strongest evidence for the
  prediction points: on (chosen) parts, on the object, or on background.

All per-image results are small and reduced by MMEngine's ``collect_results``
(DDP-correct: duplicates of the distributed sampler's padding are dropped);
:class:`PrototypePurity` keeps a per-rank top-k state and merges it across
ranks itself, dropping duplicated images by ``sample_idx``.
"""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_gather_object, broadcast_object_list
from mmengine.evaluator import BaseMetric

from mmfg.explain.prototypes import box_around, boxes_contain_points
from mmfg.registry import METRICS

__all__ = [
    'PrototypeConsistency', 'PrototypeStability', 'PrototypePurity',
    'ExplanationSparsity', 'PrototypePartLocalization'
]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _need(ds: dict, key: str, metric: str, hint: str) -> Any:
    if key not in ds:
        raise KeyError(
            f'{metric}: the data samples have no "{key}". {hint}')
    return ds[key]


_PROTO_HINT = ('Use a prototype head (ProtoPNetHead, STProtoPNetHead) with '
               'predict_locations=True.')
_PART_HINT = ('Pack part keypoints with PackFGInputs (dataset with parts, '
              'e.g. CUB or SynthBirds).')


def _img_hw(ds: dict) -> Sequence[int]:
    for key in ('batch_input_shape', 'img_shape'):
        if key in ds:
            return [int(v) for v in ds[key][:2]]
    raise KeyError('interpretability metrics need the img_shape metainfo')


def _part_hits(locs: np.ndarray, parts: np.ndarray, half_size: int,
               img_hw: Sequence[int],
               part_ids: Optional[Sequence[int]]) -> tuple:
    """Part-hit matrix of prototypes on one image.

    Args:
        locs (np.ndarray): ``(K, 2)`` argmax pixels.
        parts (np.ndarray): ``(Q, 3)`` ``x, y, visible``.
        half_size (int): half box side.
        img_hw: input size.
        part_ids: subset of parts considered (None: all).

    Returns:
        tuple: ``hits (K, Q')`` bool, ``visible (Q',)`` bool.
    """
    if part_ids is not None:
        parts = parts[list(part_ids)]
    vis = parts[:, 2] > 0
    pts = np.floor(parts[:, :2])
    boxes = box_around(locs.astype(np.int64), half_size, img_hw)
    hits = boxes_contain_points(boxes, pts, inclusive=True) & vis[None]
    return hits, vis


class _OwnClassPartMetric(BaseMetric):
    """Shared per-image extraction of own-class prototype part hits."""

    name = 'interp'

    def __init__(self,
                 half_size: int = 36,
                 parts: Optional[Sequence[int]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'interp') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.half_size = half_size
        self.parts = None if parts is None else [int(p) for p in parts]

    def _own(self, ds: dict, loc_key: str = 'proto_loc'):
        metric = type(self).__name__
        label = int(_np(_need(ds, 'gt_label', metric, 'Labels needed.'))[0])
        cls = _np(_need(ds, 'proto_class', metric, _PROTO_HINT))
        valid = _np(ds.get('proto_valid', np.ones_like(cls, dtype=bool)))
        ids = np.nonzero((cls == label) & valid.astype(bool))[0]
        locs = _np(_need(ds, loc_key, metric, _PROTO_HINT))[ids]
        parts = _np(_need(ds, 'gt_parts', metric, _PART_HINT))
        return ids, locs, parts, _img_hw(ds)


@METRICS.register_module()
class PrototypeConsistency(_OwnClassPartMetric):
    """Prototype consistency (% of prototypes that keep hitting one part).

    Args:
        half_size (int): half side of the box around the argmax (36 for a
            72-pixel box at 224 input; scale it with the input size).
        part_thresh (float): fraction of visible-part images that must be
            hit (0.8).
        parts (Sequence[int], optional): part indices considered (all 15 CUB
            parts by default).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str): metric prefix.
    """

    def __init__(self,
                 half_size: int = 36,
                 part_thresh: float = 0.8,
                 parts: Optional[Sequence[int]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'interp') -> None:
        super().__init__(half_size, parts, collect_device, prefix)
        self.part_thresh = part_thresh

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            ids, locs, parts, hw = self._own(ds)
            hits, vis = _part_hits(locs, parts, self.half_size, hw,
                                   self.parts)
            self.results.append(
                dict(ids=ids.astype(np.int64), hits=hits, vis=vis,
                     num_prototypes=int(len(_np(ds['proto_class'])))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            return dict(consistency=0.0)
        P = max(r['num_prototypes'] for r in results)
        Q = results[0]['vis'].shape[0]
        hit_sum = np.zeros((P, Q))
        vis_sum = np.zeros((P, Q))
        seen = np.zeros(P, bool)
        for r in results:
            np.add.at(hit_sum, r['ids'], r['hits'])
            np.add.at(vis_sum, r['ids'], np.broadcast_to(
                r['vis'], (len(r['ids']), Q)))
            seen[r['ids']] = True
        frac = hit_sum / np.maximum(vis_sum, 1)
        consistent = (frac >= self.part_thresh).any(1)
        score = consistent[seen].mean() * 100 if seen.any() else 0.0
        return dict(consistency=float(score))


@METRICS.register_module()
class PrototypeStability(_OwnClassPartMetric):
    """Prototype stability under input noise (% of unchanged part-hit
    vectors, averaged over prototypes).

    Needs :class:`~mmfg.engine.hooks.PrototypeStabilityHook` in
    ``custom_hooks`` (it adds ``proto_loc_noisy``).

    Args:
        half_size (int): half side of the box around the argmax.
        parts (Sequence[int], optional): part indices considered.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str): metric prefix.
    """

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if 'proto_loc_noisy' not in ds:
                raise KeyError(
                    'PrototypeStability: no "proto_loc_noisy" in the data '
                    "samples. Add dict(type='PrototypeStabilityHook') to "
                    'custom_hooks.')
            ids, locs, parts, hw = self._own(ds)
            noisy = _np(ds['proto_loc_noisy'])[ids]
            h1, _ = _part_hits(locs, parts, self.half_size, hw, self.parts)
            h2, _ = _part_hits(noisy, parts, self.half_size, hw, self.parts)
            self.results.append(
                dict(ids=ids.astype(np.int64), same=(h1 == h2).all(1),
                     num_prototypes=int(len(_np(ds['proto_class'])))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            return dict(stability=0.0)
        P = max(r['num_prototypes'] for r in results)
        same = np.zeros(P)
        count = np.zeros(P)
        for r in results:
            np.add.at(same, r['ids'], r['same'])
            np.add.at(count, r['ids'], 1)
        seen = count > 0
        score = (same[seen] / count[seen]).mean() * 100 if seen.any() \
            else 0.0
        return dict(stability=float(score))


@METRICS.register_module()
class PrototypePurity(BaseMetric):
    """Part purity of prototypes over their most activated images.

    For each prototype, the ``top_k`` images with the highest pooled
    similarity (any class; one patch per image, at the argmax). For each
    part, the fraction of these patches whose box (``2 * half_size``
    square) contains the visible part; the prototype's purity is the largest
    such fraction. Reported: mean purity over (non-pruned) prototypes, in %.

    Args:
        top_k (int): images per prototype (10).
        half_size (int): half box side.
        parts (Sequence[int], optional): part indices considered.
        collect_device (str): unused (state is merged by object gathering).
        prefix (str): metric prefix.
    """

    def __init__(self,
                 top_k: int = 10,
                 half_size: int = 36,
                 parts: Optional[Sequence[int]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'interp') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.top_k = top_k
        self.half_size = half_size
        self.parts = None if parts is None else [int(p) for p in parts]
        self._reset()

    def _reset(self) -> None:
        self._sim = None  # (P, k)
        self._idx = None  # (P, k)
        self._hits = None  # (P, k, Q)
        self._valid = None

    @staticmethod
    def _merge(sim: np.ndarray, idx: np.ndarray, hits: np.ndarray,
               k: int) -> tuple:
        """Row-wise top-``k`` by similarity with duplicated images removed.

        Args:
            sim (np.ndarray): ``(P, M)`` similarities.
            idx (np.ndarray): ``(P, M)`` image indices.
            hits (np.ndarray): ``(P, M, Q)`` part hits.
            k (int): kept per row.

        Returns:
            tuple: ``sim (P, k)`` (``-inf`` in empty slots), ``idx (P, k)``,
            ``hits (P, k, Q)``; ties go to the smaller image index.
        """

        def by(primary, secondary):
            # order by primary, then secondary (both ascending)
            o = np.argsort(secondary, axis=1, kind='stable')
            p = np.take_along_axis(primary, o, 1)
            return np.take_along_axis(
                o, np.argsort(p, axis=1, kind='stable'), 1)

        # duplicates (same image) adjacent, best first: keep the first
        o = by(idx, -sim)
        s, i = np.take_along_axis(sim, o, 1), np.take_along_axis(idx, o, 1)
        h = np.take_along_axis(hits, o[..., None], 1)
        dup = np.zeros_like(i, dtype=bool)
        dup[:, 1:] = i[:, 1:] == i[:, :-1]
        s = np.where(dup, -np.inf, s)
        o = by(-s, i)[:, :k]
        return (np.take_along_axis(s, o, 1), np.take_along_axis(i, o, 1),
                np.take_along_axis(h, o[..., None], 1))

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        sims, idxs, hits = [], [], []
        for j, ds in enumerate(data_samples):
            sim = _np(_need(ds, 'proto_sim', 'PrototypePurity', _PROTO_HINT))
            locs = _np(_need(ds, 'proto_loc', 'PrototypePurity', _PROTO_HINT))
            parts = _np(_need(ds, 'gt_parts', 'PrototypePurity', _PART_HINT))
            h, _ = _part_hits(locs, parts, self.half_size, _img_hw(ds),
                              self.parts)
            sims.append(sim.astype(np.float64))
            idxs.append(int(ds.get('sample_idx', -1 - j)))
            hits.append(h)
            if self._valid is None:
                self._valid = _np(ds.get('proto_valid',
                                         np.ones(len(sim), bool)))
        sim = np.stack(sims, 1)  # (P, B)
        idx = np.broadcast_to(np.asarray(idxs)[None], sim.shape)
        hit = np.stack(hits, 1)  # (P, B, Q)
        if self._sim is not None:
            sim = np.concatenate([self._sim, sim], 1)
            idx = np.concatenate([self._idx, idx], 1)
            hit = np.concatenate([self._hits, hit], 1)
        self._sim, self._idx, self._hits = self._merge(
            sim, np.ascontiguousarray(idx), hit, self.top_k)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Purity from a merged state ``results[0]``."""
        sim, hits, valid = results[0]
        ok = np.isfinite(sim)  # (P, k)
        n = ok.sum(1)
        frac = (hits & ok[..., None]).sum(1) / np.maximum(n, 1)[:, None]
        purity = frac.max(1)
        keep = valid.astype(bool) & (n > 0)
        return dict(purity=float(purity[keep].mean() *
                                 100) if keep.any() else 0.0)

    def evaluate(self, size: int) -> dict:
        """Merge the per-rank top-k states and compute purity (all ranks
        return the same dict)."""
        state = None if self._sim is None else (self._sim, self._idx,
                                                self._hits, self._valid)
        parts = [s for s in all_gather_object(state) if s is not None]
        metrics = [None]
        if parts:
            sim = np.concatenate([p[0] for p in parts], 1)
            idx = np.concatenate([p[1] for p in parts], 1)
            hit = np.concatenate([p[2] for p in parts], 1)
            s, _, h = self._merge(sim, idx, hit, self.top_k)
            out = self.compute_metrics([(s, h, parts[0][3])])
        else:
            out = dict(purity=0.0)
        metrics = [{(f'{self.prefix}/{k}' if self.prefix else k): v
                    for k, v in out.items()}]
        broadcast_object_list(metrics)
        self._reset()
        return metrics[0]


@METRICS.register_module()
class ExplanationSparsity(BaseMetric):
    """How many prototypes the explanation of a prediction needs.

    For each image, the contributions ``sim_p * w[pred, p]`` (the head's
    ``proto_contrib``); the explanation size is the smallest number of
    prototypes whose positive contributions reach ``mass`` of the total
    positive contribution. Reported: mean ``explanation_size`` and
    ``sparsity = 100 * (1 - size / valid prototypes)``.

    Args:
        mass (float): fraction of positive evidence to cover (0.9).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str): metric prefix.
    """

    def __init__(self,
                 mass: float = 0.9,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'interp') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < mass <= 1:
            raise ValueError(f'mass must be in (0, 1], got {mass}')
        self.mass = mass

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            c = _np(_need(ds, 'proto_contrib', 'ExplanationSparsity',
                          _PROTO_HINT)).astype(np.float64)
            valid = _np(ds.get('proto_valid', np.ones(len(c), bool)))
            pos = np.sort(np.where(valid.astype(bool), np.clip(c, 0, None),
                                   0))[::-1]
            total = pos.sum()
            if total <= 0:
                k = 0
            else:
                k = int(np.searchsorted(np.cumsum(pos), self.mass * total *
                                        (1 - 1e-12)) + 1)
            self.results.append(dict(k=k, n=int(valid.sum())))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        k = np.array([r['k'] for r in results], np.float64)
        n = np.array([r['n'] for r in results], np.float64)
        return dict(
            explanation_size=float(k.mean()) if len(k) else 0.0,
            sparsity=float((1 - k / np.maximum(n, 1)).mean() *
                           100) if len(k) else 0.0)


@METRICS.register_module()
class PrototypePartLocalization(BaseMetric):
    """Where the strongest evidence of the prediction lies.

    The top prototype of an image is the one with the largest contribution
    to the predicted class (``rank_by='contribution'``) or the largest
    similarity (``'similarity'``). Its argmax pixel counts as:

    - ``on_part``: a ``2 * half_size`` box around it contains a visible
      part of ``parts`` (e.g. the discriminative parts);
    - ``on_object``: it lies inside a ground-truth box;
    - ``background``: it does not.

    Args:
        parts (Sequence[int], optional): part indices counted as
            discriminative (all parts when None).
        half_size (int): half box side.
        rank_by (str): ``'contribution'`` or ``'similarity'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str): metric prefix.
    """

    def __init__(self,
                 parts: Optional[Sequence[int]] = None,
                 half_size: int = 16,
                 rank_by: str = 'contribution',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'interp') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if rank_by not in ('contribution', 'similarity'):
            raise ValueError("rank_by must be 'contribution' or 'similarity'")
        self.parts = None if parts is None else [int(p) for p in parts]
        self.half_size = half_size
        self.rank_by = rank_by

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        key = 'proto_contrib' if self.rank_by == 'contribution' \
            else 'proto_sim'
        for ds in data_samples:
            score = _np(_need(ds, key, 'PrototypePartLocalization',
                              _PROTO_HINT)).astype(np.float64)
            valid = _np(ds.get('proto_valid', np.ones(len(score), bool)))
            score = np.where(valid.astype(bool), score, -np.inf)
            top = int(np.argmax(score))
            loc = _np(_need(ds, 'proto_loc', 'PrototypePartLocalization',
                            _PROTO_HINT))[top:top + 1]
            parts = _np(_need(ds, 'gt_parts', 'PrototypePartLocalization',
                              _PART_HINT))
            hits, _ = _part_hits(loc, parts, self.half_size, _img_hw(ds),
                                 self.parts)
            on_obj = False
            if 'gt_bboxes' in ds:
                boxes = _np(ds['gt_bboxes']).reshape(-1, 4)
                pt = loc.astype(np.float64) + 0.5  # pixel centre
                on_obj = bool(
                    boxes_contain_points(boxes, pt, inclusive=True).any())
            self.results.append(
                dict(on_part=bool(hits.any()), on_object=on_obj,
                     has_box='gt_bboxes' in ds))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            return dict(on_part=0.0)
        out = dict(
            on_part=float(np.mean([r['on_part'] for r in results]) * 100))
        boxed = [r for r in results if r['has_box']]
        if boxed:
            obj = np.mean([r['on_object'] for r in boxed]) * 100
            out['on_object'] = float(obj)
            out['background'] = float(100 - obj)
        return out

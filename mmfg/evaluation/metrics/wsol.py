"""Weakly supervised object localisation (WSOL) metrics.

Public signature (stable)::

    LocalizationMetric(
        threshold=0.5,            # float tau | 'oracle' | path of a json
        cam_curve_interval=0.001, # the tau grid np.arange(0, 1, interval)
        iou_thresholds=(0.3, 0.5, 0.7),
        topk=(1, 5),
        save_threshold=None,      # json path: write the oracle tau there
        out_file=None,            # json path: per-class, errors, curves
        part_iop=0.5, more_iog=0.7, multi_iog=0.5,
        mask_ignore_index=None,   # gt_mask value skipped by PxAP
        device=None,              # where the sweep runs ('cuda' / 'cpu')
        prefix='wsol', collect_device='cpu')

It reads from each data sample: ``loc_map`` (float ``(h, w)``, any range:
the GT-class map or a class-agnostic map; resized to ``img_shape`` by
:func:`mmfg.explain.localization.normalize_map`), ``pred_score (C,)``
(optional: Top-1/Top-5 Loc and the error breakdown need it), ``gt_label``,
``gt_bboxes (N, 4)`` (``x1, y1, x2, y2`` in input pixels, as
:class:`~mmfg.datasets.transforms.PackFGInputs` maps them through the
pipeline's ``trans_mat``; truncated to integer pixels as the protocol's
``resize_bbox``) and, for PxAP, ``gt_mask (H, W)`` (foreground: values > 0,
as wsolevaluation's ``mask > 0.5`` on the raw grey levels, so any pixel an
annotator marked counts; ``LoadMask(binarize_threshold=127)`` makes a
majority mask instead, which is not the protocol's);
``mask_ignore_index`` marks pixels to skip, as the "ignore" regions of
wsolevaluation's OpenImages masks).

Metrics (Choe et al., CVPR 2020, clovaai/wsolevaluation; all in %; keys
``MaxBoxAcc``, ``MaxBoxAccV2`` (+ ``MaxBoxAccV2@30/50/70``), ``GTKnownLoc``,
``GTKnownLoc_class_mean``, ``Top1Loc``, ``Top5Loc``, ``IoU@30/50/70``,
``error_{cls,multi,part,more,loc}``, ``PxAP``, ``threshold``,
``oracle_threshold``):

- ``MaxBoxAcc``: max over tau of the fraction of images whose largest-contour
  box has IoU >= 0.5 with some GT box;
- ``MaxBoxAccV2``: mean over ``iou_thresholds`` of the same max, with all
  contours' boxes;
- at the chosen tau (``threshold``): ``GT-known Loc`` (IoU >= 0.5),
  ``Top-1 Loc`` / ``Top-5 Loc`` (also the GT class in the top-1 / top-5),
  ``IoU@30/50/70`` (largest contour), the per-class GT-known Loc (mean over
  classes reported, the table in ``out_file``) and the error breakdown
  (fractions of all images that sum to 100 with Top-1 Loc): ``cls`` (wrong
  top-1 class), and among correctly classified images with IoU < 0.5:
  ``multi`` (the box covers >= 2 GT boxes, each with IoG >= ``multi_iog``),
  ``part`` (IoP >= ``part_iop``: the box lies on a part of an object),
  ``more`` (IoG >= ``more_iog``: the box is too large) and ``loc`` (the
  rest). The categories follow the error analysis of BAS (Wu et al., CVPR
  2022); the thresholds are arguments;
- ``PxAP`` (datasets with masks): area under the pixel precision-recall curve
  over the same tau grid, from per-image histograms.

The chosen tau: a float; ``'oracle'`` (the MaxBoxAcc-optimal tau of this
split, i.e. the protocol's optimistic number); or the path of a json written
by ``save_threshold`` in a run on a validation split, which is how a tau
chosen on ``val`` reaches the ``test`` run (``{"threshold": 0.23, ...}``).

DDP: ``process`` keeps per image only the per-tau IoU vectors (largest and
all contours), per-tau error codes and, with masks, two pixel histograms;
MMEngine's ``collect_results`` gathers them (padding duplicates dropped).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmfg.explain.localization import (box_overlaps_plus1, default_thresholds,
                                       gt_boxes_to_pixels, image_chunks,
                                       normalize_map, quantize_map, sweep,
                                       sweep_result_ious)
from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError

__all__ = ['LocalizationMetric', 'error_codes', 'pxap_from_histograms']

ERROR_NAMES = ('correct', 'multi', 'part', 'more', 'loc')


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def error_codes(boxes: torch.Tensor,
                gt: torch.Tensor,
                valid: torch.Tensor,
                part_iop: float = 0.5,
                more_iog: float = 0.7,
                multi_iog: float = 0.5) -> torch.Tensor:
    """Localisation outcome of predicted boxes (+1 pixel convention).

    Args:
        boxes (Tensor): ``(B, T, 4)`` predicted boxes (int).
        gt (Tensor): ``(B, G, 4)`` GT boxes, padded.
        valid (Tensor): ``(B, G)`` bool, which GT rows are real.
        part_iop (float): IoP (intersection / predicted area) for ``part``.
        more_iog (float): IoG (intersection / GT area) for ``more``.
        multi_iog (float): IoG each of >= 2 GT boxes needs for ``multi``.

    Returns:
        Tensor: ``(B, T)`` uint8 codes, indices into
        ``('correct', 'multi', 'part', 'more', 'loc')``.
    """
    # (B, T, 1, 4) against (B, 1, G, 4) -> (B, T, 1, G): squeeze the 1
    inter, area_b, area_g = box_overlaps_plus1(boxes.unsqueeze(-2),
                                               gt[:, None])
    inter, area_b, area_g = inter[..., 0, :], area_b[..., 0, :], \
        area_g[..., 0, :]
    v = valid[:, None]
    iou = torch.where(v, inter / (area_b + area_g - inter).clamp(min=1e-12),
                      0.0)
    iop = torch.where(v, inter / area_b.clamp(min=1e-12), 0.0)
    iog = torch.where(v, inter / area_g.clamp(min=1e-12), 0.0)
    code = torch.full(iou.shape[:2], 4, dtype=torch.uint8,
                      device=boxes.device)
    code[iog.amax(-1) >= more_iog] = 3
    code[iop.amax(-1) >= part_iop] = 2
    code[(iog >= multi_iog).sum(-1) >= 2] = 1
    code[iou.amax(-1) >= 0.5] = 0
    return code


def pxap_from_histograms(pos_hist: np.ndarray, neg_hist: np.ndarray) -> float:
    """PxAP (%) from score histograms of GT-foreground/background pixels.

    Args:
        pos_hist (np.ndarray): ``(T + 2,)`` counts of foreground pixels per
            bin ``[tau_i, tau_{i+1})``, the last bins ``[1, 2)``, ``[2, 3)``.
        neg_hist (np.ndarray): ``(T + 2,)`` the same for background pixels.

    Returns:
        float: average precision (area under precision-recall), in %.
    """
    tp = pos_hist[::-1].cumsum()
    fp = neg_hist[::-1].cumsum()
    npos = pos_hist.sum()
    if npos <= 0:
        return float('nan')
    denom = tp + fp
    nz = denom != 0
    precision = np.where(nz, tp / np.where(nz, denom, 1), 0.0)
    recall = tp / npos
    return float((precision[1:] * np.diff(recall))[nz[1:]].sum() * 100)


@METRICS.register_module()
class LocalizationMetric(BaseMetric):
    """WSOL evaluation: MaxBoxAcc(V2), GT-known/Top-k Loc, IoU@, PxAP.

    Args:
        threshold (float | str): tau of the single-threshold numbers: a
            float in ``[0, 1)``, ``'oracle'``, or a json path written by
            ``save_threshold`` (a tau chosen on a validation split).
        cam_curve_interval (float): step of the tau grid. Default 0.001.
        iou_thresholds (Sequence[float]): deltas of MaxBoxAccV2 and of the
            ``IoU@`` numbers. Default ``(0.3, 0.5, 0.7)``.
        topk (Sequence[int]): Top-k Loc to report. Default ``(1, 5)``.
        save_threshold (str, optional): write the oracle tau (and MaxBoxAcc)
            of this split to this json, for a later test run.
        out_file (str, optional): json with per-class GT-known Loc, the
            error breakdown and the per-tau accuracy curves.
        part_iop (float): IoP threshold of ``part`` errors.
        more_iog (float): IoG threshold of ``more`` errors.
        multi_iog (float): IoG threshold of ``multi`` errors.
        mask_ignore_index (int, optional): ``gt_mask`` value excluded from
            PxAP (e.g. 255). Default None.
        device (str, optional): where the threshold sweep runs; default
            ``'cuda'`` when available, else ``'cpu'``.
        collect_device (str): MMEngine's collect device.
        prefix (str): key prefix. Default ``'wsol'``.
    """
    default_prefix = 'wsol'

    def __init__(self,
                 threshold: Union[float, str] = 0.5,
                 cam_curve_interval: float = 0.001,
                 iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
                 topk: Sequence[int] = (1, 5),
                 save_threshold: Optional[str] = None,
                 out_file: Optional[str] = None,
                 part_iop: float = 0.5,
                 more_iog: float = 0.7,
                 multi_iog: float = 0.5,
                 mask_ignore_index: Optional[int] = None,
                 device: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(threshold, str) and threshold != 'oracle' and \
                not threshold.endswith('.json'):
            raise ConfigError(
                f'LocalizationMetric: threshold={threshold!r} must be a '
                'float in [0, 1), "oracle", or the path of a .json written '
                'by save_threshold on a validation split.')
        if not isinstance(threshold, str) and not 0 <= threshold < 1:
            raise ConfigError(f'LocalizationMetric: threshold={threshold} '
                              'is outside [0, 1).')
        if not 0 < cam_curve_interval < 1:
            raise ConfigError('LocalizationMetric: cam_curve_interval must '
                              f'be in (0, 1), got {cam_curve_interval}.')
        self.threshold = threshold
        self.thresholds = default_thresholds(cam_curve_interval)
        self.iou_thresholds = tuple(float(d) for d in iou_thresholds)
        self.topk = tuple(int(k) for k in topk)
        self.save_threshold = save_threshold
        self.out_file = out_file
        self.part_iop, self.more_iog = part_iop, more_iog
        self.multi_iog = multi_iog
        self.mask_ignore_index = mask_ignore_index
        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.device = device

    # ------------------------------------------------------------------
    def _map_of(self, ds: dict) -> np.ndarray:
        if 'loc_map' not in ds:
            raise KeyError(
                'LocalizationMetric: the data samples have no "loc_map". '
                'Use a localiser (e.g. CAMLocalizer, BAS) whose predict() '
                'sets it.')
        shape = ds.get('img_shape')
        return normalize_map(ds['loc_map'],
                             tuple(shape[:2]) if shape is not None else None)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Sweep the batch's maps and keep compact per-image results.

        Args:
            data_batch: unused.
            data_samples (Sequence[dict]): outputs of the model.
        """
        norms = [self._map_of(ds) for ds in data_samples]
        groups: Dict[tuple, List[int]] = {}
        for i, m in enumerate(norms):
            groups.setdefault(m.shape, []).append(i)
        rows: List[Optional[dict]] = [None] * len(data_samples)
        chunks = []
        for members in groups.values():
            h, w = norms[members[0]].shape
            chunks += [members[c] for c in image_chunks(len(members), h, w)]
        for members in chunks:
            qs = [quantize_map(norms[i]) for i in members]
            gts = []
            for i in members:
                ds = data_samples[i]
                if 'gt_bboxes' not in ds:
                    raise KeyError(
                        'LocalizationMetric: the data samples have no '
                        '"gt_bboxes". Use a dataset with boxes (CUB, '
                        'SynthBirds) and PackFGInputs in the test pipeline.')
                gts.append(gt_boxes_to_pixels(ds['gt_bboxes']))
            res = sweep(qs, self.thresholds, self.device)
            iou_l = sweep_result_ious(res, gts, False)
            iou_a = sweep_result_ious(res, gts, True)
            gmax = max(max(len(g) for g in gts), 1)
            gt_t = torch.zeros((len(gts), gmax, 4), dtype=torch.int64)
            valid = torch.zeros((len(gts), gmax), dtype=torch.bool)
            for j, g in enumerate(gts):
                gt_t[j, :len(g)] = torch.as_tensor(g)
                valid[j, :len(g)] = True
            codes = error_codes(res.largest, gt_t.to(res.largest.device),
                                valid.to(res.largest.device), self.part_iop,
                                self.more_iog, self.multi_iog)
            iou_l, iou_a = iou_l.cpu().numpy(), iou_a.cpu().numpy()
            codes = codes.cpu().numpy()
            for j, i in enumerate(members):
                rows[i] = dict(
                    iou_largest=iou_l[j], iou_all=iou_a[j], codes=codes[j])
        for i, ds in enumerate(data_samples):
            row = rows[i]
            label = _np(ds.get('gt_label', [])).reshape(-1)
            row['gt_label'] = int(label[0]) if label.size else -1
            if 'pred_score' in ds:
                score = _np(ds['pred_score']).reshape(-1)
                order = np.argsort(-score, kind='stable')
                rank = int(np.nonzero(order == row['gt_label'])[0][0]) \
                    if 0 <= row['gt_label'] < len(score) else len(score)
                row['rank'] = rank
            if 'gt_mask' in ds:
                row['pxap_hist'] = self._mask_hist(norms[i], ds['gt_mask'])
            self.results.append(row)

    def _mask_hist(self, norm: np.ndarray, gt_mask) -> np.ndarray:
        mask = _np(gt_mask)
        if mask.shape != norm.shape:
            raise ValueError(
                f'LocalizationMetric: gt_mask {mask.shape} and the input '
                f'{norm.shape} differ; keep LoadMask before the geometric '
                'transforms so the mask follows the image.')
        edges = np.append(self.thresholds, [1.0, 2.0, 3.0])
        keep = np.ones(mask.shape, dtype=bool) if \
            self.mask_ignore_index is None else mask != self.mask_ignore_index
        pos, _ = np.histogram(norm[(mask > 0) & keep], bins=edges)
        neg, _ = np.histogram(norm[(mask == 0) & keep], bins=edges)
        return np.stack([pos, neg]).astype(np.int64)

    # ------------------------------------------------------------------
    def _chosen_index(self, acc50: np.ndarray) -> int:
        taus = self.thresholds
        if self.threshold == 'oracle':
            return int(np.argmax(acc50))
        if isinstance(self.threshold, str):
            if not osp.isfile(self.threshold):
                raise FileNotFoundError(
                    f'LocalizationMetric: threshold file "{self.threshold}" '
                    'does not exist. Run the validation split first with '
                    f'save_threshold="{self.threshold}", or give a float.')
            with open(self.threshold) as f:
                content = json.load(f)
            if 'threshold' not in content:
                raise ConfigError(f'LocalizationMetric: "{self.threshold}" '
                                  'has no "threshold" key.')
            tau = float(content['threshold'])
        else:
            tau = float(self.threshold)
        return int(np.argmin(np.abs(taus - tau)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Reduce the per-image results.

        Args:
            results (list[dict]): the collected ``process`` outputs.

        Returns:
            dict[str, float]: the metrics (in %), keys without prefix.
        """
        iou_l = np.stack([r['iou_largest'] for r in results])
        iou_a = np.stack([r['iou_all'] for r in results])
        codes = np.stack([r['codes'] for r in results])
        labels = np.array([r['gt_label'] for r in results])
        acc50 = (iou_l >= 0.5).mean(0) * 100
        ti = self._chosen_index(acc50)
        tau = float(self.thresholds[ti])
        out: Dict[str, float] = {}
        out['MaxBoxAcc'] = float(acc50.max())
        v2 = [float(((iou_a >= d).mean(0) * 100).max())
              for d in self.iou_thresholds]
        out['MaxBoxAccV2'] = float(np.mean(v2))
        for d, val in zip(self.iou_thresholds, v2):
            out[f'MaxBoxAccV2@{int(round(d * 100))}'] = val
        out['threshold'] = tau
        out['oracle_threshold'] = float(self.thresholds[int(np.argmax(
            acc50))])
        known = iou_l[:, ti] >= 0.5
        out['GTKnownLoc'] = float(known.mean() * 100)
        for d in self.iou_thresholds:
            out[f'IoU@{int(round(d * 100))}'] = float(
                (iou_l[:, ti] >= d).mean() * 100)
        classes = np.unique(labels)
        per_class = {int(c): float(known[labels == c].mean() * 100)
                     for c in classes}
        out['GTKnownLoc_class_mean'] = float(
            np.mean(list(per_class.values())))
        has_rank = all('rank' in r for r in results)
        errors = {}
        if has_rank:
            rank = np.array([r['rank'] for r in results])
            for k in self.topk:
                out[f'Top{k}Loc'] = float(
                    ((rank < k) & known).mean() * 100)
            cls_ok = rank < 1
            errors['cls'] = float((~cls_ok).mean() * 100)
            for c, name in enumerate(ERROR_NAMES[1:], start=1):
                errors[name] = float(
                    (cls_ok & (codes[:, ti] == c)).mean() * 100)
            for name, val in errors.items():
                out[f'error_{name}'] = val
        hists = [r['pxap_hist'] for r in results if 'pxap_hist' in r]
        if hists:
            h = np.sum(hists, 0)
            out['PxAP'] = pxap_from_histograms(h[0], h[1])
        logger = MMLogger.get_current_instance()
        if self.save_threshold:
            os.makedirs(osp.dirname(osp.abspath(self.save_threshold)),
                        exist_ok=True)
            with open(self.save_threshold, 'w') as f:
                json.dump(dict(threshold=out['oracle_threshold'],
                               MaxBoxAcc=out['MaxBoxAcc'],
                               num_images=len(results)), f, indent=2)
            logger.info(f'LocalizationMetric: oracle tau '
                        f'{out["oracle_threshold"]:.3f} saved to '
                        f'{self.save_threshold}')
        if self.out_file:
            os.makedirs(osp.dirname(osp.abspath(self.out_file)),
                        exist_ok=True)
            with open(self.out_file, 'w') as f:
                json.dump(
                    dict(
                        metrics=out,
                        per_class_gt_known_loc=per_class,
                        errors=errors,
                        thresholds=self.thresholds.tolist(),
                        box_acc_largest_50=acc50.tolist(),
                        box_acc_all={
                            str(d): ((iou_a >= d).mean(0) * 100).tolist()
                            for d in self.iou_thresholds
                        }),
                    f)
        return out

"""Faithfulness of attribution maps, as MMEngine metrics.

:class:`AttributionMetric` reads what
:class:`~mmfg.models.classifiers.AttributionClassifier` attaches to every
data sample (``attr_map (H, W)``, ``ins_curve``, ``del_curve`` (``S + 1``
target probabilities)) and, when the pipeline packs them, ``gt_bboxes
(N, 4)`` in input pixels. The measures are the functions of
:mod:`mmfg.explain.attribution.faithfulness`:

- ``insertion_auc`` (higher is better) and ``deletion_auc`` (lower);
- ``highest_conf``: best target probability with at most ``upto`` of the
  units revealed (SMDL's "highest confidence (0-25%)");
- ``pointing_game`` (% of maps whose maximum lies in a box, with
  ``tolerance`` pixels) and ``mass_in_box`` (% of the positive mass inside
  the boxes), when boxes are present.

Per-image values are reduced by MMEngine's ``collect_results`` (DDP-correct).
"""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmfg.explain.attribution import (curve_auc, highest_confidence,
                                      mass_inside_box, pointing_game)
from mmfg.registry import METRICS

__all__ = ['AttributionMetric']

_HINT = ('Use a model that explains in predict (AttributionClassifier with '
         'an explain_cfg).')


@METRICS.register_module()
class AttributionMetric(BaseMetric):
    """Insertion / deletion AUC, highest confidence, pointing game, mass in
    box.

    Args:
        upto (float): fraction of units for ``highest_conf``.
        tolerance (float): pointing-game margin in input pixels.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric prefix.
    """

    default_prefix = 'attr'

    def __init__(self,
                 upto: float = 0.25,
                 tolerance: float = 0.,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.upto = float(upto)
        self.tolerance = float(tolerance)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Per-image measures.

        Args:
            data_batch: unused.
            data_samples (Sequence[dict]): with ``attr_map``, ``ins_curve``,
                ``del_curve``, optional ``gt_bboxes``.
        """
        for ds in data_samples:
            for key in ('attr_map', 'ins_curve', 'del_curve'):
                if key not in ds:
                    raise KeyError(f'AttributionMetric: the data samples '
                                   f'have no "{key}". {_HINT}')
            ins = torch.as_tensor(ds['ins_curve']).float().cpu()[None]
            dele = torch.as_tensor(ds['del_curve']).float().cpu()[None]
            res = dict(
                insertion_auc=float(curve_auc(ins)[0]),
                deletion_auc=float(curve_auc(dele)[0]),
                highest_conf=float(highest_confidence(ins, self.upto)[0]))
            boxes = ds.get('gt_bboxes', None)
            if boxes is not None and len(boxes):
                amap = torch.as_tensor(ds['attr_map']).float().cpu()[None]
                b = torch.as_tensor(np.asarray(boxes),
                                    dtype=torch.float32).reshape(1, -1, 4)
                res['pointing_game'] = float(
                    pointing_game(amap, b, self.tolerance)[0])
                res['mass_in_box'] = float(mass_inside_box(amap, b)[0])
            self.results.append(res)

    def compute_metrics(self, results: List[dict]) -> dict:
        """Means over images (pointing game and mass in %).

        Args:
            results (list[dict]): per-image measures.

        Returns:
            dict: ``insertion_auc``, ``deletion_auc``, ``highest_conf``,
            and ``pointing_game`` / ``mass_in_box`` when boxes were given.
        """
        out = {}
        for key in ('insertion_auc', 'deletion_auc', 'highest_conf'):
            out[key] = float(np.mean([r[key] for r in results]))
        for key in ('pointing_game', 'mass_in_box'):
            vals = [r[key] for r in results if key in r]
            if vals:
                out[key] = 100. * float(np.mean(vals))
        return out

"""The Entangled metric as an MMEngine metric."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmfg.registry import METRICS
from .entangled import entangled

__all__ = ['Entangled']


def _field(ds, key: str, hint: str):
    value = ds.get(key) if isinstance(ds, dict) else getattr(ds, key, None)
    if value is None:
        raise KeyError(f'Entangled: the data samples have no "{key}". {hint}')
    return torch.as_tensor(value)


@METRICS.register_module()
class Entangled(BaseMetric):
    """Entangled-D (paired) and Entangled-S (unpaired) of ForgetMe.

    Reads from every data sample the edited image ``pred_key`` (float
    ``(3, H, W)`` in ``[0, 1]`` or uint8), the original ``orig_key`` (same
    shape; only for the paired score) and the mask ``mask_key`` (``(H, W)``,
    1 / 255 = region to forget); see :mod:`forgetme.entangled` for the
    formulas. Per-image scores are computed batched (one call per group of
    same-size images) and reduced over ranks by MMEngine's
    ``collect_results`` (DDP-correct: the sampler's padding duplicates are
    dropped), then averaged.

    Args:
        mode (str): ``'paired'`` (Entangled-D and its terms, needs the
            original), ``'unpaired'`` (Entangled-S only) or ``'both'``.
            Defaults to ``'both'``.
        alpha (float): consistency weight of Entangled-D. Defaults to 0.5.
        beta (float): similarity weight of Entangled-D. Defaults to 0.5.
        mask_thresh (float): the mask is binarised at this level (in
            ``[0, 1]`` units). Defaults to 0.5.
        pred_key (str): field of the edited image. Defaults to ``'pred_img'``.
        orig_key (str): field of the original. Defaults to ``'gt_orig'``.
        mask_key (str): field of the mask. Defaults to ``'gt_mask'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): metric prefix. Defaults to ``'entangled'``.
    """

    default_prefix: Optional[str] = 'entangled'
    _KEYS = {
        'paired': ('entangled_d', 'similarity', 's_in', 's_out'),
        'unpaired': ('entangled_s', 'mean_term', 'var_term'),
    }

    def __init__(self,
                 mode: str = 'both',
                 alpha: float = 0.5,
                 beta: float = 0.5,
                 mask_thresh: float = 0.5,
                 pred_key: str = 'pred_img',
                 orig_key: str = 'gt_orig',
                 mask_key: str = 'gt_mask',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if mode not in ('paired', 'unpaired', 'both'):
            raise ValueError(f'Entangled: mode must be "paired", "unpaired" '
                             f'or "both", got {mode!r}.')
        self.mode = mode
        self.alpha = alpha
        self.beta = beta
        self.mask_thresh = mask_thresh
        self.pred_key = pred_key
        self.orig_key = orig_key
        self.mask_key = mask_key
        keys: List[str] = []
        if mode in ('paired', 'both'):
            keys += self._KEYS['paired']
        if mode in ('unpaired', 'both'):
            keys += self._KEYS['unpaired']
        self.keys = keys

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Score every sample of the batch (batched per image size)."""
        paired = self.mode != 'unpaired'
        preds, origs, masks = [], [], []
        for ds in data_samples:
            preds.append(_field(ds, self.pred_key,
                                'The model must return the edited image.'))
            masks.append(_field(ds, self.mask_key,
                                'Pack the forget mask with the inputs.'))
            if paired:
                origs.append(_field(
                    ds, self.orig_key, 'Pack the original image, or use '
                    "mode='unpaired'."))
        groups: Dict[tuple, List[int]] = {}
        for i, p in enumerate(preds):
            groups.setdefault(tuple(p.shape), []).append(i)
        rows: List[Optional[dict]] = [None] * len(preds)
        for idx in groups.values():
            pred = torch.stack([preds[i] for i in idx])
            orig = torch.stack([origs[i].to(pred.device)
                                for i in idx]) if paired else None
            mask = torch.stack([masks[i].to(pred.device) for i in idx])
            scores = entangled(orig, pred, mask, self.alpha, self.beta,
                               self.mask_thresh)
            values = {k: scores[k].cpu().numpy() for k in self.keys}
            for j, i in enumerate(idx):
                rows[i] = {k: float(v[j]) for k, v in values.items()}
        self.results.extend(rows)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Mean of every per-image score."""
        return {
            k: float(np.mean([r[k] for r in results]))
            for k in self.keys
        }

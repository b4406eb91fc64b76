"""Metrics of soft decision trees: fidelity and path length (ProtoTree).

The deterministic inference modes of ProtoTree (``sample_max``: the leaf
with the largest path probability; ``greedy``: follow ``p_right > 0.5``)
explain a prediction by a single path; *fidelity* is how often they give the
soft (distributed) prediction, and the mean path length how many decisions
that explanation has (Nauta et al., CVPR 2021, Table 3).
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmfg.registry import METRICS

__all__ = ['TreeFidelity']

_MODES = ('soft', 'sample_max', 'greedy')


@METRICS.register_module()
class TreeFidelity(BaseMetric):
    """Fidelity of the deterministic tree modes to the soft one.

    Reads the fields ``tree_pred_labels (3,)`` (soft, sample_max, greedy
    labels) and ``tree_path_lengths (2,)`` (sample_max, greedy) that
    :class:`ProtoTreeHead` writes in ``predict``; ``gt_label`` when present.
    Reduced over DDP ranks by :class:`BaseMetric`.

    Reported (percentages, lengths in decisions):
    ``fidelity_sample_max``, ``fidelity_greedy``, ``accuracy_soft``,
    ``accuracy_sample_max``, ``accuracy_greedy`` (with ground truth),
    ``path_length_sample_max``, ``path_length_greedy``.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix (default ``'tree'``).
    """

    default_prefix: Optional[str] = 'tree'

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the labels and path lengths of a batch."""
        for ds in data_samples:
            if 'tree_pred_labels' not in ds:
                raise KeyError(
                    'TreeFidelity needs the `tree_pred_labels` field that '
                    'ProtoTreeHead.predict writes; use it with a ProtoTree '
                    'model.')
            res = dict(
                labels=torch.as_tensor(ds['tree_pred_labels']).view(
                    -1).cpu().long(),
                lengths=torch.as_tensor(ds['tree_path_lengths']).view(
                    -1).cpu().float())
            gt = ds.get('gt_label')
            if gt is not None:
                res['gt'] = int(torch.as_tensor(gt).view(-1)[0])
            self.results.append(res)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Fidelity, accuracy per mode and mean path lengths."""
        labels = torch.stack([r['labels'] for r in results])  # (N, 3)
        lengths = torch.stack([r['lengths'] for r in results])  # (N, 2)
        soft = labels[:, 0]
        out = {
            'fidelity_sample_max':
            (labels[:, 1] == soft).float().mean().item() * 100,
            'fidelity_greedy':
            (labels[:, 2] == soft).float().mean().item() * 100,
            'path_length_sample_max': lengths[:, 0].mean().item(),
            'path_length_greedy': lengths[:, 1].mean().item(),
        }
        if all('gt' in r for r in results):
            gt = torch.tensor([r['gt'] for r in results])
            for k, mode in enumerate(_MODES):
                out[f'accuracy_{mode}'] = \
                    (labels[:, k] == gt).float().mean().item() * 100
        return out

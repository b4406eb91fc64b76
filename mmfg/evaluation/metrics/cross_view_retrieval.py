"""Cross-view retrieval: ground image → its own overhead tile (Recall@K)."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmfg.models.utils.distances import DISTANCES
from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError
from .retrieval import retrieval_metrics

__all__ = ['CrossViewRetrievalMetric']


@METRICS.register_module()
class CrossViewRetrievalMetric(BaseMetric):
    """Recall@K of retrieving each sample's paired view (BirdSAT).

    Every evaluated sample contributes one query (its
    ``ground_embedding``) and one gallery item (its
    ``overhead_embedding``); a query is answered when its own overhead tile
    is among its K nearest gallery items. This is
    :func:`~mmfg.evaluation.metrics.retrieval.retrieval_metrics` with the
    pair index as label, so ``Recall@K`` is exactly the instance-level
    cross-view recall (``'overhead_to_ground'`` swaps the roles).

    Args:
        topk (Sequence[int]): K of Recall@K. Defaults to (1, 5, 10).
        direction (str): ``'ground_to_overhead'`` or
            ``'overhead_to_ground'``. Defaults to 'ground_to_overhead'.
        query_key (str): field of the ground embedding. Defaults to
            ``'ground_embedding'``.
        gallery_key (str): field of the overhead embedding. Defaults to
            ``'overhead_embedding'``.
        distance (str): one of ``DISTANCES``. Defaults to 'cosine'.
        backend (str): ``'faiss'`` or ``'torch'``. Defaults to 'torch'.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): defaults to ``'cross_view'``.
    """

    default_prefix = 'cross_view'

    def __init__(self,
                 topk: Sequence[int] = (1, 5, 10),
                 direction: str = 'ground_to_overhead',
                 query_key: str = 'ground_embedding',
                 gallery_key: str = 'overhead_embedding',
                 distance: str = 'cosine',
                 backend: str = 'torch',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if direction not in ('ground_to_overhead', 'overhead_to_ground'):
            raise ConfigError(
                'CrossViewRetrievalMetric: direction must be '
                '"ground_to_overhead" or "overhead_to_ground", got '
                f'{direction!r}.')
        if distance not in DISTANCES:
            raise ConfigError('CrossViewRetrievalMetric: distance must be '
                              f'one of {DISTANCES}, got {distance!r}.')
        self.topk = tuple(int(k) for k in topk)
        self.direction = direction
        self.keys = (query_key, gallery_key)
        self.distance = distance
        self.backend = backend

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep both embeddings of every sample."""
        for ds in data_samples:
            missing = [k for k in self.keys if k not in ds]
            if missing:
                raise KeyError(
                    f'CrossViewRetrievalMetric: the data samples have no '
                    f'{missing} (fields: {sorted(ds)}). Evaluate a BirdSAT '
                    'model (CVEMAE/CVMMAE predict mode) on a cross-view '
                    'dataset, or set query_key/gallery_key.')
            self.results.append(
                tuple(
                    torch.as_tensor(ds[k]).detach().float().cpu().view(-1)
                    for k in self.keys))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """``Recall@K`` (percent) over all pairs."""
        query = torch.stack([r[0] for r in results])
        gallery = torch.stack([r[1] for r in results])
        if self.direction == 'overhead_to_ground':
            query, gallery = gallery, query
        pair = torch.arange(len(results))
        out = retrieval_metrics(
            query,
            gallery,
            pair,
            pair,
            topk=self.topk,
            metric_names=('recall', ),
            distance=self.distance,
            backend=self.backend)
        return {k: v for k, v in out.items() if k.startswith('Recall')}

"""Evaluate an alternative score set of the predictions with any metric."""
import copy
from typing import Any, List, Optional, Sequence

from mmengine.evaluator import BaseMetric

from mmfg.registry import METRICS

__all__ = ['ScoreKeyMetric']


@METRICS.register_module()
class ScoreKeyMetric(BaseMetric):
    """Run ``metric`` on the scores stored under ``score_key``.

    Each prediction is copied with ``pred_score`` replaced by its
    ``score_key`` field (and ``pred_label`` re-derived from it) before the
    inner metric sees it, so one test run can report several score sets of
    the same model under different prefixes, e.g. MetaFormer with meta
    (``pred_score``) and with zeroed meta (``pred_score_zero_meta``, see
    :class:`~mmfg.models.classifiers.MetaImageClassifier`)::

        test_evaluator = [
            dict(type='Accuracy', prefix='meta'),
            dict(type='ScoreKeyMetric', metric=dict(type='Accuracy'),
                 score_key='pred_score_zero_meta', prefix='zero_meta')]

    Results are reported as ``<prefix>/<inner metric name>``. Distributed
    collection is the inner metric's (its results list is gathered here).

    Args:
        metric (dict): config of the inner metric (its ``prefix`` is
            ignored).
        score_key (str): data-sample field with the scores ``(C,)``.
        prefix (str): prefix of the reported names.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.

    Raises:
        KeyError: a prediction has no ``score_key`` (the message says which
            model option produces it).
    """

    def __init__(self,
                 metric: dict,
                 score_key: str,
                 prefix: str,
                 collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metric = METRICS.build(metric)
        self.score_key = score_key

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Swap the scores in and let the inner metric process the batch."""
        swapped = []
        for sample in data_samples:
            if self.score_key not in sample:
                raise KeyError(
                    f'ScoreKeyMetric: prediction has no "{self.score_key}" '
                    'field; enable the model option that writes it (e.g. '
                    'MetaImageClassifier(zero_meta_eval=True)) or fix '
                    'score_key.')
            sample = copy.copy(sample)
            score = sample[self.score_key]
            sample['pred_score'] = score
            sample['pred_label'] = score.argmax(-1, keepdim=True)
            swapped.append(sample)
        self.metric.results = self.results
        self.metric.process(data_batch, swapped)

    def compute_metrics(self, results: List[Any]) -> dict:
        """The inner metric's ``compute_metrics`` on the gathered results."""
        return self.metric.compute_metrics(results)

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        self.metric.dataset_meta = dataset_meta

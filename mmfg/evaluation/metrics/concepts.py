"""Agreement between the concepts a model attends to and the attributes an
image has (concept transformers: :class:`~mmfg.models.heads.CCTHead`)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.evaluator import BaseMetric

from mmfg.explain.concepts import concept_agreement
from mmfg.models.utils.concept_mapping import (ConceptMapping,
                                               build_concept_mapping)
from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError

__all__ = ['ConceptAttributeMetric']


@METRICS.register_module()
class ConceptAttributeMetric(BaseMetric):
    """Precision@k of the concept scores against the image's attributes.

    For every image, the ``k`` concepts with the highest scores (``k`` = the
    number of the stream's attributes the image has) are compared with the
    attributes present; the metric is the fraction that are present,
    averaged over images. A random ranking scores the fraction of
    attributes present (reported as ``*_chance``).

    Reads ``concept_scores (G,)`` and ``spatial_concept_scores (S,)`` (set
    by ``CCTHead.predict``) and the ``attributes`` field (the dataset needs
    ``with_attributes=True``).

    Args:
        concept_mapping (str | dict | ConceptMapping): the head's mapping.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): defaults to ``'concept'``.

    Metrics: ``global_precision``, ``global_chance``, ``spatial_precision``,
    ``spatial_chance`` (streams the model has).
    """

    default_prefix = 'concept'

    def __init__(self,
                 concept_mapping: Union[str, dict, ConceptMapping],
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.mapping = build_concept_mapping(concept_mapping)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            attrs = ds.get('attributes')
            if attrs is None:
                raise ConfigError(
                    'ConceptAttributeMetric: the samples have no '
                    '"attributes"; set with_attributes=True on the '
                    'evaluation dataset.')
            attrs = torch.as_tensor(attrs).float().cpu()
            self.mapping.check_attributes(attrs, 'ConceptAttributeMetric')
            rec = dict(attributes=attrs)
            for key in ('concept_scores', 'spatial_concept_scores'):
                if ds.get(key) is not None:
                    rec[key] = torch.as_tensor(ds[key]).float().cpu()
            self.results.append(rec)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        attrs = torch.stack([r['attributes'] for r in results])
        out = {}
        for stream, key, idx in (
            ('global', 'concept_scores', self.mapping.global_attributes),
            ('spatial', 'spatial_concept_scores',
             self.mapping.spatial_attributes)):
            if not idx or any(key not in r for r in results):
                continue
            scores = torch.stack([r[key] for r in results])
            present = attrs[:, list(idx)]
            prec = concept_agreement(scores, present)
            ok = ~prec.isnan()
            out[f'{stream}_precision'] = float(prec[ok].mean()) * 100
            chance = present.mean(1)[ok]
            out[f'{stream}_chance'] = float(chance.mean()) * 100
        return out

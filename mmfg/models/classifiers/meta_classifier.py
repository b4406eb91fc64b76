"""An image classifier whose backbone also reads meta-information."""
from typing import Dict, List, Optional, Sequence

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.registry import MODELS

__all__ = ['MetaImageClassifier', 'ZERO_META_SCORE_KEY']

#: Data-sample field holding the scores computed with all meta zeroed.
ZERO_META_SCORE_KEY = 'pred_score_zero_meta'


@MODELS.register_module()
class MetaImageClassifier(ImageClassifier):
    """:class:`~mmpretrain.models.ImageClassifier` that feeds meta to the
    backbone (e.g. :class:`~mmfg.models.backbones.MetaFormer`).

    For every name of ``meta_keys`` the meta of a sample is read from the
    ``meta`` data field (a dict, see ``docs/data_fields.md``) or, when not
    there, from the data field of that name (so the ``attributes`` that
    :class:`~mmfg.datasets.transforms.PackFGInputs` packs are reused as
    they are). The per-sample tensors are stacked into ``{name: (B, ...)}``
    and passed as ``backbone(inputs, meta=...)``. A backbone without meta
    (``meta_dims`` empty and ``meta_keys`` not given) makes this a plain
    ``ImageClassifier``.

    Evaluation with and without meta in one run: with ``zero_meta_eval``,
    ``predict`` also runs the backbone with every meta input zeroed and
    stores those scores in the ``pred_score_zero_meta`` field; evaluate them
    with :class:`~mmfg.evaluation.metrics.ScoreKeyMetric` beside a plain
    ``Accuracy``::

        test_evaluator = [
            dict(type='Accuracy', prefix='meta'),
            dict(type='ScoreKeyMetric', metric=dict(type='Accuracy'),
                 score_key='pred_score_zero_meta', prefix='zero_meta')]

    Args:
        meta_keys (Sequence[str], optional): meta names; defaults to the
            keys of ``backbone.meta_dims``.
        zero_meta_eval (bool): also predict with zeroed meta. Defaults to
            False.
        **kwargs: :class:`~mmpretrain.models.ImageClassifier` arguments.
    """

    def __init__(self,
                 *args,
                 meta_keys: Optional[Sequence[str]] = None,
                 zero_meta_eval: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if meta_keys is None:
            meta_keys = list(getattr(self.backbone, 'meta_dims', {}) or {})
        self.meta_keys = list(meta_keys)
        self.zero_meta_eval = zero_meta_eval

    def gather_meta(self, data_samples: Optional[List[DataSample]],
                    device: torch.device) -> Optional[Dict[str, Tensor]]:
        """Stack the meta of ``data_samples``.

        Args:
            data_samples (list[DataSample], optional): the batch.
            device (torch.device): where the tensors go.

        Returns:
            dict[str, Tensor] | None: ``{name: (B, ...)}`` float tensors, or
            None without meta keys or samples.

        Raises:
            KeyError: a sample has no meta of a name (the message names the
                image and the pipeline fix).
        """
        if not self.meta_keys or not data_samples:
            return None
        meta: Dict[str, List[Tensor]] = {k: [] for k in self.meta_keys}
        for sample in data_samples:
            fields = sample.get('meta') or {}
            for key in self.meta_keys:
                value = fields.get(key) if isinstance(fields, dict) else None
                if value is None:
                    value = sample.get(key)
                if value is None:
                    raise KeyError(
                        f'MetaImageClassifier: sample '
                        f'"{sample.get("img_path", "?")}" has no meta '
                        f'"{key}" (neither meta["{key}"] nor a "{key}" '
                        'field). Add the meta transform (e.g. '
                        'SpatioTemporalMeta, TextEmbeddingMeta) or '
                        'with_attributes=True to the dataset, before '
                        'PackFGInputs.')
                meta[key].append(torch.as_tensor(value))
        return {
            k: torch.stack(v).to(device=device, dtype=torch.float32)
            for k, v in meta.items()
        }

    def extract_feat(self,
                     inputs: Tensor,
                     stage: str = 'neck',
                     meta: Optional[Dict[str, Tensor]] = None):
        """As ``ImageClassifier.extract_feat`` with ``meta`` for the
        backbone (``{name: (B, ...)}``; None: the backbone's default)."""
        assert stage in ('backbone', 'neck', 'pre_logits'), \
            f'Invalid output stage "{stage}".'
        x = self.backbone(inputs, meta=meta) if self.meta_keys else \
            self.backbone(inputs)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = self.neck(x)
        if stage == 'neck':
            return x
        return self.head.pre_logits(x)

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """Losses of a batch (meta taken from ``data_samples``)."""
        meta = self.gather_meta(data_samples, inputs.device)
        return self.head.loss(self.extract_feat(inputs, meta=meta),
                              data_samples)

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Predictions with meta; plus ``pred_score_zero_meta`` with
        ``zero_meta_eval`` (every meta input replaced by zeros)."""
        meta = self.gather_meta(data_samples, inputs.device)
        zero_scores = None
        if self.zero_meta_eval and meta is not None:
            zeros = {k: torch.zeros_like(v) for k, v in meta.items()}
            zero_samples = self.head.predict(
                self.extract_feat(inputs, meta=zeros), None, **kwargs)
            zero_scores = [s.pred_score for s in zero_samples]
        samples = self.head.predict(
            self.extract_feat(inputs, meta=meta), data_samples, **kwargs)
        if zero_scores is not None:
            for sample, score in zip(samples, zero_scores):
                sample.set_field(score, ZERO_META_SCORE_KEY)
        return samples

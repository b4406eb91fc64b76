"""A classifier whose ``predict`` also explains and scores its decision.

Public signature (stable)::

    AttributionClassifier(backbone, neck, head, explain_cfg=dict(
        method='smdl', target='gt', steps=32, order='auto', baseline='zeros',
        ...attribute_batch arguments...), ...)
    # predict() -> DataSample with pred_score, attr_map (H, W),
    #              ins_curve (S + 1,), del_curve (S + 1,)

It holds the same weights as an MMPretrain ``ImageClassifier`` (a checkpoint
of the classifier loads as is), so ``tools/test.py`` with a config whose
model is this class and whose evaluator is
:class:`~mmfg.evaluation.AttributionMetric` measures the faithfulness of
any method of :data:`mmfg.explain.attribution.ATTRIBUTION_METHODS` on a
whole test set.
"""
from typing import List, Optional

import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = ['AttributionClassifier', 'explain_and_score']

_EVAL_KEYS = ('target', 'steps', 'order', 'eval_baseline', 'eval_chunk_size')


def explain_and_score(model, inputs: torch.Tensor, targets: torch.Tensor,
                      explain_cfg: dict) -> dict:
    """Attribution maps and insertion / deletion curves of a batch.

    Args:
        model (nn.Module): the classifier.
        inputs (Tensor): ``(B, 3, H, W)``.
        targets (Tensor): ``(B,)`` explained classes.
        explain_cfg (dict): ``method`` and the other arguments of
            :func:`~mmfg.explain.attribution.attribute_batch`; ``steps``
            (curve steps, default 32), ``order`` (``'pixel'``, ``'region'``
            or ``'auto'``: region order for SMDL, pixel order otherwise),
            ``eval_baseline`` (default: the method's ``baseline``) and
            ``eval_chunk_size``.

    Returns:
        dict: ``attribute_batch``'s output plus ``insertion``,
        ``deletion``, ``insertion_auc``, ``deletion_auc``.
    """
    # imported here: mmfg.explain.attribution itself imports mmfg.models
    from mmfg.explain.attribution import (attribute_batch, insertion_deletion,
                                          logits_fn, region_ranks)
    cfg = dict(explain_cfg)
    for k in _EVAL_KEYS:
        cfg.pop(k, None)
    pre = getattr(model, 'data_preprocessor', None)
    mean = getattr(pre, 'mean', None)
    std = getattr(pre, 'std', None)
    if mean is not None and 'mean' not in cfg:
        cfg['mean'] = mean.flatten().tolist()
        cfg['std'] = std.flatten().tolist()
    out = attribute_batch(model, inputs, targets, **cfg)
    order = explain_cfg.get('order', 'auto')
    if order not in ('auto', 'pixel', 'region'):
        raise ConfigError(f"explain_cfg.order={order!r}: use 'auto', "
                          "'pixel' or 'region'.")
    region = order == 'region' or (order == 'auto' and 'order' in out)
    kw = dict(
        steps=int(explain_cfg.get('steps', 32)),
        baseline=explain_cfg.get('eval_baseline',
                                 cfg.get('baseline', 'zeros')),
        mean=cfg.get('mean'), std=cfg.get('std'),
        chunk_size=int(explain_cfg.get('eval_chunk_size', 64)))
    if region:
        if 'order' not in out:
            raise ConfigError('explain_cfg.order="region" needs a region '
                              'method (smdl).')
        ranks = torch.stack([
            region_ranks(m[o]) for m, o in zip(out['masks'], out['order'])
        ])
        units = torch.tensor([len(o) for o in out['order']],
                             device=inputs.device)
        curves = insertion_deletion(logits_fn(model), inputs, targets,
                                    ranks=ranks, num_units=units, **kw)
    else:
        curves = insertion_deletion(logits_fn(model), inputs, targets,
                                    maps=out['map'], **kw)
    out.update(curves)
    return out


@MODELS.register_module()
class AttributionClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose ``predict`` adds an attribution map and
    its insertion / deletion curves.

    Args:
        explain_cfg (dict): see :func:`explain_and_score`; ``target`` is
            ``'gt'`` (the label; falls back to the prediction) or
            ``'pred'``.
        **kwargs: the arguments of :class:`mmpretrain.models.ImageClassifier`.
    """

    def __init__(self, *args, explain_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        from mmfg.explain.attribution import ATTRIBUTION_METHODS
        super().__init__(*args, **kwargs)
        cfg = dict(explain_cfg or dict(method='gradcam'))
        if cfg.get('method', 'gradcam') not in ATTRIBUTION_METHODS:
            raise ConfigError(
                f'AttributionClassifier: explain_cfg.method='
                f'{cfg.get("method")!r} must be one of '
                f'{list(ATTRIBUTION_METHODS)}.')
        if cfg.get('target', 'gt') not in ('gt', 'pred'):
            raise ConfigError('AttributionClassifier: explain_cfg.target '
                              'must be "gt" or "pred".')
        self.explain_cfg = cfg

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Classify, explain and score every image.

        Args:
            inputs (Tensor): ``(B, 3, H, W)``.
            data_samples (list[DataSample], optional): with ``gt_label``.

        Returns:
            list[DataSample]: with ``pred_score``, ``attr_map (H, W)``,
            ``ins_curve``, ``del_curve`` and ``attr_target``.
        """
        samples = super().predict(inputs, data_samples, **kwargs)
        targets = []
        for s in samples:
            label = s.get('gt_label', None)
            if self.explain_cfg.get('target', 'gt') == 'gt' and \
                    label is not None and label.numel():
                targets.append(int(label.reshape(-1)[0]))
            else:
                targets.append(int(s.pred_label.reshape(-1)[0]))
        tgt = torch.as_tensor(targets, device=inputs.device)
        out = explain_and_score(self, inputs, tgt, self.explain_cfg)
        for i, s in enumerate(samples):
            s.set_field(out['map'][i].detach().float(), 'attr_map')
            s.set_field(out['insertion'][i].float(), 'ins_curve')
            s.set_field(out['deletion'][i].float(), 'del_curve')
            s.set_field(targets[i], 'attr_target', field_type='metainfo')
        return samples

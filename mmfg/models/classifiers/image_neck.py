"""A classifier whose neck also sees the input image.

Some plug-in necks need the image itself, not only the backbone's feature
maps: the Gabor texture branch (:class:`~mmfg.models.necks.GaborTextureNeck`)
filters zoomed image regions, and RBI
(:class:`~mmfg.models.necks.RBINeck`) relates the images of a batch by PSNR.
``ImageNeckClassifier`` is MMPretrain's ``ImageClassifier`` with one change:
the neck is called as ``neck(feats, images=inputs)``, so any MMPretrain
backbone and head combine with such a neck::

    model = dict(
        type='ImageNeckClassifier',
        backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
        neck=dict(type='GaborTextureNeck', in_channels=2048),
        head=dict(type='LinearClsHead', num_classes=200, in_channels=2048))

A neck that does not accept ``images`` (e.g. ``GlobalAveragePooling``) is
called as usual, so this classifier is a drop-in replacement.
"""
import inspect
from typing import Tuple, Union

import torch
from mmpretrain.models.classifiers import ImageClassifier

from mmfg.registry import MODELS

__all__ = ['ImageNeckClassifier', 'last_feature_map']


@MODELS.register_module()
class ImageNeckClassifier(ImageClassifier):
    """``ImageClassifier`` that passes the input batch to the neck.

    Takes exactly the arguments of MMPretrain's ``ImageClassifier``
    (``backbone``, ``neck``, ``head``, ``pretrained``, ``train_cfg``,
    ``data_preprocessor``, ``init_cfg``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._neck_takes_images = self.with_neck and (
            'images' in inspect.signature(self.neck.forward).parameters)

    def extract_feat(self,
                     inputs: torch.Tensor,
                     stage: str = 'neck') -> Union[tuple, torch.Tensor]:
        """Features of ``inputs`` ``(N, C, H, W)`` at ``stage``
        (``'backbone'``, ``'neck'`` or ``'pre_logits'``), as in
        ``ImageClassifier.extract_feat``; the neck also gets ``inputs``."""
        if stage not in ('backbone', 'neck', 'pre_logits'):
            raise ValueError(
                f'Invalid output stage "{stage}", choose from "backbone", '
                '"neck" and "pre_logits"')
        x = self.backbone(inputs)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = (self.neck(x, images=inputs)
                 if self._neck_takes_images else self.neck(x))
        if stage == 'neck':
            return x
        return self.head.pre_logits(x)

    def loss(self, inputs: torch.Tensor, data_samples) -> dict:
        """Head loss; plus, when the neck has ``aux_weight > 0`` and
        returns ``(unfused, fused)`` features, the weighted head loss on the
        unfused ones (``aux_loss``)."""
        feats = self.extract_feat(inputs)
        losses = self.head.loss(feats, data_samples)
        weight = float(getattr(self.neck, 'aux_weight', 0.0)) \
            if self.with_neck else 0.0
        if weight > 0 and isinstance(feats, (tuple, list)) and \
                len(feats) > 1:
            losses.update(_aux_losses(self.head, feats, data_samples,
                                      weight))
        return losses


def _aux_losses(head, feats, data_samples, weight: float) -> dict:
    """Head loss on the features before the last (fused) one, weighted,
    with keys prefixed ``aux_``."""
    aux = head.loss(tuple(feats[:-1]), data_samples)
    return {
        f'aux_{k}': v * weight if k.startswith('loss') else v
        for k, v in aux.items()
    }


def last_feature_map(
        feats: Union[torch.Tensor, Tuple[torch.Tensor, ...]]) -> torch.Tensor:
    """The last feature map of a backbone output (tuple or tensor)."""
    return feats[-1] if isinstance(feats, (tuple, list)) else feats

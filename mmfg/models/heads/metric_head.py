"""Embedding head for deep metric learning.

Signature (stable)::

    EmbeddingHead(in_channels, embed_dim=512, normalize=False,
                  loss=dict(type='TripletLoss'), regularizer=None,
                  init_cfg=dict(type='Normal', layer='Linear', std=0.01))
    forward(feats) -> (N, embed_dim)
    loss(feats, data_samples) -> dict(loss_metric=..., [loss_reg=...])
    predict(feats, data_samples=None) -> List[DataSample] with ``embedding``

A metric-learning model is a plain MMPretrain ``ImageClassifier``::

    model = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=50),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='EmbeddingHead', in_channels=2048, embed_dim=512,
                  loss=dict(type='TripletLoss', distance='snr')))

and is evaluated with ``dict(type='RetrievalMetric')``, which reads the
``embedding`` field that :meth:`EmbeddingHead.predict` sets.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.registry import MODELS
from .prototype_layer import build_mmfg_module

__all__ = ['EmbeddingHead']

Feats = Union[Tensor, Sequence[Tensor]]


@MODELS.register_module()
class EmbeddingHead(BaseModule):
    """Linear embedding ``in_channels -> embed_dim`` trained by a metric
    loss.

    Args:
        in_channels (int): channels of the (pooled) neck output ``C``.
        embed_dim (int): embedding size ``D``. Defaults to 512.
        normalize (bool): L2-normalise the embeddings (in training and in
            prediction). Defaults to False. The SNR distance is invariant to
            a common scale of the embeddings, and the DSML configs use it on
            raw embeddings with its zero-mean regulariser; public
            reimplementations (pytorch-metric-learning, Roth et al.)
            normalise first, which made no significant difference on
            SynthBirds (configs/dsml/README.md).
        loss (dict | nn.Module): a loss called as
            ``loss(embeddings (N, D), labels (N,))``, e.g.
            ``dict(type='TripletLoss', distance='snr')``.
        regularizer (dict | nn.Module, optional): an extra term called as
            ``regularizer(embeddings (N, D))``, e.g.
            ``dict(type='ZeroMeanRegularizer', loss_weight=0.1)``; logged as
            ``loss_reg``.
        init_cfg (dict, optional): initialisation of the linear layer.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dim: int = 512,
                 normalize: bool = False,
                 loss: Union[dict, nn.Module] = dict(type='TripletLoss'),
                 regularizer: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = int(in_channels)
        self.embed_dim = int(embed_dim)
        self.normalize = bool(normalize)
        self.fc = nn.Linear(self.in_channels, self.embed_dim)
        self.loss_module = build_mmfg_module(loss)
        self.regularizer = None if regularizer is None else \
            build_mmfg_module(regularizer)

    def pre_logits(self, feats: Feats) -> Tensor:
        """The last neck output, flattened to ``(N, C)``."""
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        return x.flatten(1)

    def forward(self, feats: Feats) -> Tensor:
        """Embeddings ``(N, D)`` of ``feats`` (``(N, C)`` or a tuple whose
        last element is ``(N, C)`` / ``(N, C, 1, 1)``)."""
        x = self.fc(self.pre_logits(feats))
        return F.normalize(x, dim=-1) if self.normalize else x

    def loss(self, feats: Feats, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Metric loss of a batch.

        Args:
            feats: neck outputs.
            data_samples (list[DataSample]): with ``gt_label``.

        Returns:
            dict[str, Tensor]: ``loss_metric`` and, with a regulariser,
            ``loss_reg``.
        """
        emb = self(feats).float()  # distances in float32 under AMP
        labels = torch.cat([ds.gt_label for ds in data_samples]).to(
            emb.device)
        losses = dict(loss_metric=self.loss_module(emb, labels))
        if self.regularizer is not None:
            losses['loss_reg'] = self.regularizer(emb)
        return losses

    @torch.no_grad()
    def predict(self,
                feats: Feats,
                data_samples: Optional[List[Optional[DataSample]]] = None,
                **kwargs) -> List[DataSample]:
        """Attach ``embedding (D,)`` to each data sample.

        Args:
            feats: neck outputs.
            data_samples (list[DataSample], optional): created when None.

        Returns:
            list[DataSample]
        """
        emb = self(feats).float()
        if data_samples is None:
            data_samples = [None] * emb.shape[0]
        out = []
        for ds, e in zip(data_samples, emb):
            ds = DataSample() if ds is None else ds
            ds.set_field(e, 'embedding', field_type='data')
            out.append(ds)
        return out

"""Low-dimensional target embedding head ("Beyond One-hot Encoding",
Rodríguez et al., Image and Vision Computing 2018).

A linear layer maps the pooled feature to ``d`` outputs (``d`` may be far
below the number of classes ``C``), which are regressed to a fixed code per
class; prediction decodes the nearest code. It replaces ``LinearClsHead`` in
any MMPretrain classifier config::

    head=dict(
        type='TargetEmbeddingHead', num_classes=200, in_channels=2048,
        embed_dims=32, codes=dict(type='random', seed=0),
        loss=dict(type='CodeRegressionLoss', mode='mse'))

The codes live in a buffer (``head.codes``, ``(C, d)``), so checkpoints
carry them and a test run decodes with the codes the model was trained on.
How codes are made and the codes file format:
:mod:`mmfg.models.utils.class_codes`.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.models.utils.class_codes import (eigen_codes, load_codes_file,
                                           random_codes)
from mmfg.models.utils.distances import (pairwise_cosine_similarity,
                                         pairwise_squared_l2)
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError
from .prototype_layer import build_mmfg_module

__all__ = ['TargetEmbeddingHead', 'build_class_codes']


def build_class_codes(codes: dict, num_classes: int, dims: int) -> Tensor:
    """Codes ``(C, d)`` from a head's ``codes`` config.

    Args:
        codes (dict): one of

            * ``dict(type='random', seed=0, distribution='gaussian')``:
              random projections of the one-hot space;
            * ``dict(type='eigen', file='codes.npz')``: the normalised
              eigen-representation of the file's similarity matrix
              (``.npz`` key ``similarity`` or a ``.npy`` matrix);
            * ``dict(type='file', file='codes.npz')``: the file's
              ``codes`` array as it is (must be ``(C, d)``).
        num_classes (int): ``C``.
        dims (int): ``d``.

    Returns:
        Tensor: float32 ``(C, d)``.
    """
    cfg = dict(codes)
    kind = cfg.pop('type', None)
    if kind == 'random':
        return random_codes(num_classes, dims, **cfg)
    if kind in ('eigen', 'file'):
        if 'file' not in cfg:
            raise ConfigError(f"TargetEmbeddingHead: codes=dict(type="
                              f"'{kind}') needs file='path/to/codes.npz'.")
        content = load_codes_file(cfg['file'], num_classes)
        if kind == 'eigen':
            if 'similarity' not in content:
                raise ConfigError(
                    f'Class codes file "{cfg["file"]}" has no similarity '
                    "matrix; use codes=dict(type='file', ...) to read its "
                    'codes as they are.')
            return eigen_codes(content['similarity'], dims)
        if 'codes' not in content:
            raise ConfigError(
                f'Class codes file "{cfg["file"]}" holds no codes; build '
                'them with build_class_codes.py --dims, or use '
                "codes=dict(type='eigen', ...).")
        arr = torch.as_tensor(content['codes']).float()
        if arr.shape[1] != dims:
            raise ConfigError(
                f'Class codes file "{cfg["file"]}" has {arr.shape[1]}-d '
                f'codes but the head has embed_dims={dims}.')
        return arr
    raise ConfigError(
        "TargetEmbeddingHead: codes['type'] must be 'random', 'eigen' or "
        f"'file', got {kind!r}.")


@MODELS.register_module()
class TargetEmbeddingHead(ClsHead):
    """Linear regression to fixed class codes with nearest-code decoding.

    Training: ``out = W feat + b`` (``(N, d)``) is regressed to the code of
    the true class (``codes[gt_label]``); with batch augmentations that give
    soft labels (``gt_score``, ``(N, C)``) the target is
    ``gt_score @ codes``, the code of the mixed one-hot vector.

    Prediction: ``pred_label = argmin_c dist(out, codes[c])`` with
    ``dist`` the squared L2 distance (``distance='l2'``) or one minus the
    cosine similarity (``distance='cosine'``), and
    ``pred_score = softmax(-dist / temperature)`` over the classes (a
    monotone score: its argmax is the decoded label; it is not a calibrated
    probability).

    Args:
        num_classes (int): ``C``.
        in_channels (int): feature channels.
        embed_dims (int): code length ``d``.
        codes (dict): how to make the codes, see :func:`build_class_codes`.
            Defaults to ``dict(type='random', seed=0)``.
        loss (dict): regression loss. Defaults to
            ``dict(type='CodeRegressionLoss', mode='mse')``.
        distance (str): decoding distance, ``'l2'`` or ``'cosine'``.
        temperature (float): of ``pred_score``. Defaults to 1.
        topk (int | tuple[int]): for ``cal_acc``.
        cal_acc (bool): report training accuracy of the decoded labels.
        init_cfg (dict, optional): initialisation of the linear layer.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 embed_dims: int,
                 codes: dict = dict(type='random', seed=0),
                 loss: dict = dict(type='CodeRegressionLoss', mode='mse'),
                 distance: str = 'l2',
                 temperature: float = 1.0,
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)):
        super().__init__(
            loss=build_mmfg_module(loss),
            topk=topk,
            cal_acc=cal_acc,
            init_cfg=init_cfg)
        if num_classes <= 0 or embed_dims <= 0:
            raise ConfigError(
                f'TargetEmbeddingHead: num_classes ({num_classes}) and '
                f'embed_dims ({embed_dims}) must be positive.')
        if distance not in ('l2', 'cosine'):
            raise ConfigError("TargetEmbeddingHead: distance must be 'l2' or "
                              f"'cosine', got {distance!r}.")
        if temperature <= 0:
            raise ConfigError('TargetEmbeddingHead: temperature must be > 0, '
                              f'got {temperature}.')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.distance = distance
        self.temperature = float(temperature)
        self.fc = nn.Linear(in_channels, embed_dims)
        self.register_buffer(
            'codes', build_class_codes(codes, num_classes, embed_dims))

    # ------------------------------------------------------------- forward
    def pre_logits(self, feats: Sequence[Tensor]) -> Tensor:
        """The last stage's feature ``(N, in_channels)``."""
        return feats[-1]

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Outputs ``(N, d)`` in the code space."""
        return self.fc(self.pre_logits(feats))

    def code_distances(self, out: Tensor) -> Tensor:
        """Decoding distance of each output to each class code.

        Args:
            out (Tensor): ``(N, d)``.

        Returns:
            Tensor: ``(N, C)``: squared L2 or ``1 - cos``.
        """
        codes = self.codes.to(out.dtype)
        if self.distance == 'l2':
            return pairwise_squared_l2(out, codes)
        return 1 - pairwise_cosine_similarity(out, codes)

    # ---------------------------------------------------------------- loss
    def _get_loss(self, out: Tensor, data_samples: List[DataSample],
                  **kwargs) -> dict:
        codes = self.codes.to(out.dtype)
        if 'gt_score' in data_samples[0]:
            score = torch.stack([ds.gt_score for ds in data_samples])
            target = score.to(out.dtype) @ codes
            labels = None
        else:
            labels = torch.cat([ds.gt_label for ds in data_samples])
            target = codes[labels]
        if getattr(self.loss_module, 'mode', None) == 'softmax':
            kwargs.update(codes=codes, labels=labels)
        losses = dict(
            loss=self.loss_module(out, target, avg_factor=out.size(0),
                                  **kwargs))
        if self.cal_acc:
            if labels is None:
                raise ConfigError(
                    'TargetEmbeddingHead: cal_acc needs hard labels; switch '
                    'it off with batch augmentations (Mixup, CutMix).')
            pred = self.code_distances(out.detach()).argmin(1)
            losses['accuracy_top-1'] = (pred == labels).float().mean() * 100
        return losses

    # ------------------------------------------------------------- predict
    def predict(
        self,
        feats: Sequence[Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Nearest-code decoding.

        Sets ``pred_label`` (nearest code), ``pred_score``
        (``softmax(-dist / temperature)``, ``(C,)``) and ``embedding`` (the
        ``(d,)`` output, usable by retrieval metrics).
        """
        out = self(feats)
        dist = self.code_distances(out.float())
        scores = F.softmax(-dist / self.temperature, dim=1)
        labels = dist.argmin(1, keepdim=True)
        if data_samples is None:
            data_samples = [None] * out.size(0)
        results = []
        for ds, score, label, emb in zip(data_samples, scores, labels,
                                         out.detach()):
            ds = DataSample() if ds is None else ds
            ds.set_pred_score(score).set_pred_label(label)
            ds.set_field(emb, 'embedding')
            results.append(ds)
        return results

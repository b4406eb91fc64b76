"""BAS: Background Activation Suppression (Wu et al., CVPR 2022; WSSS
extension in the journal version), a weakly supervised localizer.

The backbone is cut in two: ``front`` (up to the stride-8 map ``f3``,
ResNet's layer3 at stride 1) and ``tail`` (the last stage, giving ``f4``).
The :class:`~mmfg.models.heads.BASHead` classifies ``f4`` and generates
class foreground maps from ``f3``. In training, the background branch runs
the tail and the head's classifier on ``f3.detach() * (1 - M_fg)`` with
*detached parameters* through :func:`torch.func.functional_call`: the
gradient of the Activation Map Constraint reaches ``M_fg`` (the generator)
and nothing else. The official code deep-copies the layers every step for
the same effect; here no copy is made (BN buffers are cloned so the
background batch does not move the running statistics, as with the copy).

Supported backbones (see :func:`split_backbone`): MMPretrain ``ResNet``
(and its subclasses), ``VGG``, mmfg's ``InceptionV3WSOL`` and
``MobileNetV1``.
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.backbones import VGG, ResNet
from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.structures import DataSample
from torch import Tensor
from torch.func import functional_call

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError
from ..backbones.inception_v3_wsol import InceptionV3WSOL
from ..backbones.mobilenet_v1 import MobileNetV1
from ..heads.bas_head import select_class_maps, topk_fused_map

__all__ = ['BAS', 'split_backbone', 'detached_call']


def _resnet_split(b: ResNet) -> Tuple[Callable, List[nn.Module]]:

    def front(x: Tensor) -> Tensor:
        if b.deep_stem:
            x = b.stem(x)
        else:
            x = b.relu(b.norm1(b.conv1(x)))
        x = b.maxpool(x)
        for name in b.res_layers[:-1]:
            x = getattr(b, name)(x)
        return x

    return front, [getattr(b, b.res_layers[-1])]


def _vgg_split(b: VGG) -> Tuple[Callable, List[nn.Module]]:
    if len(b.stage_blocks) != 5:
        raise ConfigError('BAS with VGG needs num_stages=5 (generator on '
                          f'conv4_3), got {len(b.stage_blocks)} stages')
    feats = b.features
    s4, s5 = b.range_sub_modules[3], b.range_sub_modules[4]
    conv4_end = s4[0] + b.stage_blocks[3]  # conv4_x, pool4 excluded
    front_layers = feats[:conv4_end]
    # pool4 + conv5_x (pool5, if any, is dropped as in the paper)
    tail = [feats[conv4_end]] + [
        feats[i] for i in range(s5[0], s5[0] + b.stage_blocks[4])
    ]
    return front_layers, tail


def _inception_split(b: InceptionV3WSOL) -> Tuple[Callable, List[nn.Module]]:
    return b.stem_to_mixed_6e, [b.Mixed_7a, b.Mixed_7b, b.Mixed_7c]


def _mobilenet_split(b: MobileNetV1) -> Tuple[Callable, List[nn.Module]]:
    return b.layers[:-2], list(b.layers[-2:])


def split_backbone(backbone: nn.Module) -> Tuple[Callable, List[nn.Module]]:
    """Cut a backbone into ``front`` (input -> ``f3``) and the ``tail``
    modules (``f3`` -> ``f4``, applied in order).

    Args:
        backbone (nn.Module): a built backbone.

    Returns:
        tuple: ``(front, tail)``; the modules are the backbone's own (no
        copy), so parameters and checkpoint keys stay under ``backbone.``.
    """
    for cls, fn in ((ResNet, _resnet_split), (VGG, _vgg_split),
                    (InceptionV3WSOL, _inception_split),
                    (MobileNetV1, _mobilenet_split)):
        if isinstance(backbone, cls):
            return fn(backbone)
    raise ConfigError(
        f'BAS: no split rule for backbone {type(backbone).__name__}; use '
        'ResNet (strides=(1, 2, 1, 1)), VGG (depth 16), InceptionV3WSOL or '
        'MobileNetV1, or add a rule to mmfg.models.classifiers.bas.')


def detached_call(modules: Sequence[nn.Module], x: Tensor) -> Tensor:
    """Run ``modules`` in order with detached parameters and cloned buffers.

    Gradients flow to ``x`` but never to the modules' parameters; running
    statistics of BN layers are updated in throw-away clones.

    Args:
        modules (Sequence[nn.Module]): the modules, applied in order.
        x (Tensor): input.

    Returns:
        Tensor: output of the last module.
    """
    for m in modules:
        state = {k: v.detach() for k, v in m.named_parameters()}
        state.update({k: v.clone() for k, v in m.named_buffers()})
        x = functional_call(m, state, (x, ))
    return x


@MODELS.register_module()
class BAS(BaseClassifier):
    """Background Activation Suppression localizer.

    Args:
        backbone (dict): backbone config (see :func:`split_backbone`).
        head (dict): :class:`~mmfg.models.heads.BASHead` config.
        tail_pool (int): max-pool kernel/stride applied to ``f3`` before the
            tail (the official ResNet: layer3 and layer4 at stride 1 with a
            2x2 max-pool between). 1 = none. Defaults to 1.
        topk (int): classes whose maps are averaged into ``loc_map`` at
            test time (CUB: 200 for ResNet/Inception, 80 for VGG/MobileNet;
            ILSVRC: 1). Defaults to 1.
        loc_map_from (str): ``'topk'`` (the paper's test protocol) or
            ``'gt'`` (the GT-class map; for GT-known analyses). Defaults to
            ``'topk'``.
        data_preprocessor (dict, optional): defaults to
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): initialisation config.

    ``predict`` sets on every data sample ``pred_score`` ``(C,)`` (softmax,
    or sigmoid for a multi-label head), ``pred_label`` and ``loc_map``
    ``(H, W)``: the raw fused map in [0, 1] bilinearly resized to the input
    tensor (metrics min-max normalise it).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 tail_pool: int = 1,
                 topk: int = 1,
                 loc_map_from: str = 'topk',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        data_preprocessor = data_preprocessor or {}
        if isinstance(data_preprocessor, dict):
            data_preprocessor.setdefault('type', 'ClsDataPreprocessor')
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        if loc_map_from not in ('topk', 'gt'):
            raise ConfigError(f"BAS: loc_map_from must be 'topk' or 'gt', "
                              f'got {loc_map_from!r}')
        if topk < 1:
            raise ConfigError(f'BAS: topk must be >= 1, got {topk}')
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.tail_pool = int(tail_pool)
        self.topk = int(topk)
        self.loc_map_from = loc_map_from
        # plain (unregistered) attributes: the modules stay registered,
        # and in the checkpoint, under `backbone.` only
        front, tail = split_backbone(self.backbone)
        object.__setattr__(self, '_front', front)
        if self.tail_pool > 1:
            tail = [nn.MaxPool2d(self.tail_pool)] + tail
        self._tail: List[nn.Module] = tail

    # ------------------------------------------------------------ features
    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """``(N, 3, H, W)`` -> ``(f3 (N, C3, h, w), f4 (N, C4, h', w'))``."""
        f3 = self._front(inputs)
        f4 = f3
        for m in self._tail:
            f4 = m(f4)
        return f3, f4

    def bg_tail(self, erased: Tensor) -> Tensor:
        """The tail on erased ``f3`` with detached parameters."""
        return detached_call(self._tail, erased)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: ``(scores (N, C), class_maps (N, C, h, w))``;
        ``'loss'``: dict of losses; ``'predict'``: data samples."""
        if mode == 'tensor':
            return self.head(*self.extract_feat(inputs))
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    # -------------------------------------------------------------- labels
    def _targets(self, data_samples: List[DataSample],
                 device: torch.device) -> Tuple[Tensor, Optional[Tensor]]:
        """``(target (N,), onehot (N, C) or None)`` from the samples."""
        labels = [
            ds.gt_label.to(device).long().view(-1) for ds in data_samples
        ]
        if not self.head.multi_label:
            if any(lb.numel() != 1 for lb in labels):
                raise ValueError(
                    'BAS: single-label head but a sample has '
                    f'{[lb.numel() for lb in labels]} labels; set '
                    'head.multi_label=True for multi-label data.')
            return torch.cat(labels), None
        n, c = len(labels), self.head.num_classes
        rows = torch.cat([
            torch.full_like(lb, i) for i, lb in enumerate(labels)
        ])
        onehot = torch.zeros(n, c, device=device)
        onehot[rows, torch.cat(labels)] = 1.0
        return self.head.draw_positive(onehot), onehot

    def loss(self, inputs: Tensor,
             data_samples: List[DataSample]) -> dict:
        """BAS losses (see :meth:`BASHead.loss`)."""
        f3, f4 = self.extract_feat(inputs)
        target, onehot = self._targets(data_samples, inputs.device)
        return self.head.loss(f3, f4, self.bg_tail, target, onehot)

    # ------------------------------------------------------------- predict
    def localization_maps(self,
                          inputs: Tensor,
                          labels: Optional[Tensor] = None
                          ) -> Tuple[Tensor, Tensor, Tensor]:
        """Scores, per-class maps and the fused map at map resolution.

        Args:
            inputs (Tensor): ``(N, 3, H, W)``.
            labels (Tensor, optional): ``(N,)``; with ``loc_map_from='gt'``
                the fused map is the map of this class.

        Returns:
            tuple: ``scores (N, C)``, ``class_maps (N, C, h, w)``,
            ``fused (N, h, w)``.
        """
        scores, maps = self.head(*self.extract_feat(inputs))
        if self.loc_map_from == 'gt':
            if labels is None:
                raise ValueError("BAS(loc_map_from='gt') needs gt labels")
            fused = select_class_maps(maps, labels)[:, 0]
        else:
            fused = topk_fused_map(maps, scores, self.topk)
        return scores, maps, fused

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Class scores and the localisation map of every image."""
        labels = None
        if self.loc_map_from == 'gt':
            if not data_samples or any('gt_label' not in ds
                                       for ds in data_samples):
                raise ValueError(
                    "BAS(loc_map_from='gt') needs gt_label on every sample")
            labels = torch.stack([
                ds.gt_label.view(-1)[0] for ds in data_samples
            ]).to(inputs.device).long()
        scores, _, fused = self.localization_maps(inputs, labels)
        probs = (scores.sigmoid()
                 if self.head.multi_label else scores.softmax(dim=1))
        loc = F.interpolate(
            fused[:, None],
            size=inputs.shape[-2:],
            mode='bilinear',
            align_corners=False)[:, 0]
        if data_samples is None:
            data_samples = [DataSample() for _ in range(inputs.shape[0])]
        pred_labels = probs.argmax(dim=1)
        for ds, p, lb, m in zip(data_samples, probs, pred_labels, loc):
            ds.set_pred_score(p).set_pred_label(lb)
            ds.set_field(m, 'loc_map')
        return data_samples

"""BAS head: the classifier and the foreground-map generator of
"Background Activation Suppression for Weakly Supervised Object
Localization and Semantic Segmentation" (Wu et al., CVPR 2022 / IJCV).

The head owns two small conv stacks on the two feature maps that the
:class:`~mmfg.models.classifiers.BAS` localizer hands it:

* ``classifier`` on the last-stage map ``f4`` (``(N, in_channels, h', w')``):
  ``num_convs`` x (conv3x3 -> ``hidden_channels``, ReLU) + conv1x1 -> C.
  Its output ``F`` is a class-logit map; ``GAP(F)`` is the class score.
* ``generator`` on the stride-8 map ``f3`` (``(N, gen_in_channels, h, w)``):
  conv3x3 -> C + sigmoid, one foreground map per class.

The losses (:mod:`mmfg.models.losses.wsol_losses`) are computed in
:meth:`BASHead.loss` from the maps and a callable that runs the backbone's
last stage with detached parameters on the erased features.
"""
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torch.func import functional_call

from mmfg.registry import MODELS
from ..losses.wsol_losses import foreground_score

__all__ = ['BASHead', 'topk_fused_map', 'select_class_maps']


def select_class_maps(class_maps: Tensor, labels: Tensor) -> Tensor:
    """The map of one class per image.

    Args:
        class_maps (Tensor): ``(N, C, h, w)``.
        labels (Tensor): ``(N,)`` class indices.

    Returns:
        Tensor: ``(N, 1, h, w)``.
    """
    n, _, h, w = class_maps.shape
    index = labels.view(n, 1, 1, 1).expand(n, 1, h, w)
    return class_maps.gather(1, index)


def topk_fused_map(class_maps: Tensor, scores: Tensor, k: int) -> Tensor:
    """Mean of the maps of the ``k`` highest-scoring classes (BAS' test-time
    fusion; ``k = C`` averages every class map).

    One batched matmul with ``1/k`` weights on the selected classes (no
    ``(N, k, h, w)`` gather).

    Args:
        class_maps (Tensor): ``(N, C, h, w)``.
        scores (Tensor): ``(N, C)`` class scores that rank the maps.
        k (int): number of classes fused, clipped to ``C``.

    Returns:
        Tensor: ``(N, h, w)``.
    """
    n, c, h, w = class_maps.shape
    k = max(1, min(int(k), c))
    if k == c:
        return class_maps.mean(1)
    idx = scores.topk(k, dim=1).indices
    weights = class_maps.new_zeros(n, c).scatter_(1, idx, 1.0 / k)
    return torch.bmm(weights[:, None], class_maps.flatten(2)).view(n, h, w)


@MODELS.register_module()
class BASHead(BaseModule):
    """Classifier + foreground generator + losses of BAS.

    Args:
        num_classes (int): number of classes C.
        in_channels (int): channels of the last-stage map ``f4``.
        gen_in_channels (int): channels of the generator input ``f3``.
        hidden_channels (int): width of the classifier convs (1024 in the
            paper). Defaults to 1024.
        num_convs (int): conv3x3 + ReLU layers before the 1x1 class conv
            (2 for WSOL, 0 for the WSSS variant). Defaults to 2.
        multi_label (bool): image-level multi-label targets (PASCAL VOC):
            sigmoid classification loss, and in every step one positive
            class per image, drawn at random, drives the foreground map (as
            in the official WSSS code). Defaults to False.
        detach_fg_features (bool): detach ``F`` in the foreground guidance
            so it only trains the generator (official WSSS). Defaults to
            False.
        loss_cls (dict): classification loss on ``GAP(F)``.
        loss_fg (dict): :class:`ForegroundGuidanceLoss` (weight = α).
        loss_amc (dict): :class:`ActivationMapConstraintLoss`.
        loss_area (dict): :class:`AreaLoss` (weight = β).
        init_cfg (dict | list, optional): Xavier-uniform convs by default,
            as the official code.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        gen_in_channels: int,
        hidden_channels: int = 1024,
        num_convs: int = 2,
        multi_label: bool = False,
        detach_fg_features: bool = False,
        loss_cls: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
        loss_fg: dict = dict(type='ForegroundGuidanceLoss', loss_weight=0.5),
        loss_amc: dict = dict(
            type='ActivationMapConstraintLoss', loss_weight=1.0),
        loss_area: dict = dict(type='AreaLoss', loss_weight=1.5),
        init_cfg: Optional[dict] = dict(
            type='Xavier', layer='Conv2d', distribution='uniform'),
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.detach_fg_features = detach_fg_features
        layers = []
        c = in_channels
        for _ in range(num_convs):
            layers += [
                nn.Conv2d(c, hidden_channels, 3, padding=1),
                nn.ReLU(inplace=True)
            ]
            c = hidden_channels
        layers.append(nn.Conv2d(c, num_classes, 1))
        self.classifier = nn.Sequential(*layers)
        self.generator = nn.Sequential(
            nn.Conv2d(gen_in_channels, num_classes, 3, padding=1),
            nn.Sigmoid())
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_fg = MODELS.build(loss_fg)
        self.loss_amc = MODELS.build(loss_amc)
        self.loss_area = MODELS.build(loss_area)

    # ------------------------------------------------------------- forward
    def score_map(self, f4: Tensor, detached: bool = False) -> Tensor:
        """Class-logit map ``F``.

        Args:
            f4 (Tensor): ``(N, in_channels, h', w')``.
            detached (bool): run with detached parameters (a functional
                call): gradients reach ``f4`` but never the classifier.

        Returns:
            Tensor: ``(N, C, h', w')``.
        """
        if not detached:
            return self.classifier(f4)
        params = {
            k: v.detach()
            for k, v in self.classifier.named_parameters()
        }
        return functional_call(self.classifier, params, (f4, ))

    def class_maps(self, f3: Tensor) -> Tensor:
        """Per-class foreground maps in [0, 1].

        Args:
            f3 (Tensor): ``(N, gen_in_channels, h, w)``.

        Returns:
            Tensor: ``(N, C, h, w)``.
        """
        return self.generator(f3)

    def forward(self, f3: Tensor, f4: Tensor) -> Tuple[Tensor, Tensor]:
        """Returns ``(scores (N, C), class_maps (N, C, h, w))``."""
        return self.score_map(f4).mean(dim=(2, 3)), self.class_maps(f3)

    # -------------------------------------------------------------- losses
    def draw_positive(self, onehot: Tensor) -> Tensor:
        """One positive class per image, uniformly at random.

        Args:
            onehot (Tensor): ``(N, C)`` multi-hot targets (each row has at
                least one positive).

        Returns:
            Tensor: ``(N,)`` long class indices.
        """
        if bool((onehot.sum(1) <= 0).any()):
            raise ValueError(
                'BASHead(multi_label=True): an image has no positive '
                'class; image-level labels must name at least one class.')
        return torch.multinomial(onehot.float(), 1).squeeze(1)

    def loss(self, f3: Tensor, f4: Tensor,
             bg_tail: Callable[[Tensor], Tensor], target: Tensor,
             onehot: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """All BAS losses for one batch.

        Args:
            f3 (Tensor): ``(N, gen_in_channels, h, w)`` generator input.
            f4 (Tensor): ``(N, in_channels, h', w')`` last-stage map.
            bg_tail (Callable): maps erased ``f3`` to a last-stage map
                with the backbone's parameters *detached*.
            target (Tensor): ``(N,)`` class driving the foreground map (the
                GT class; for multi-label data the drawn positive).
            onehot (Tensor, optional): ``(N, C)`` multi-hot targets of the
                classification loss (multi-label only).

        Returns:
            dict: ``loss_cls``, ``loss_fg``, ``loss_amc``, ``loss_area``.
        """
        score_map = self.score_map(f4)
        scores = score_map.mean(dim=(2, 3))
        fg_map = select_class_maps(self.class_maps(f3), target)
        rows = torch.arange(target.numel(), device=target.device)
        s = scores[rows, target]

        # Background branch: the detached features erased by the map; the
        # only trainable thing on this path is the map itself.
        erased = f3.detach() * (1.0 - fg_map)
        bg_scores = self.score_map(
            bg_tail(erased), detached=True).mean(dim=(2, 3))
        s_bg = bg_scores[rows, target]

        guide = score_map.detach() if self.detach_fg_features else score_map
        fg_logits = foreground_score(guide, fg_map)
        cls_target = onehot.float() if self.multi_label else target
        return dict(
            loss_cls=self.loss_cls(scores, cls_target),
            loss_fg=self.loss_fg(fg_logits, target),
            loss_amc=self.loss_amc(s_bg, s),
            loss_area=self.loss_area(fg_map))

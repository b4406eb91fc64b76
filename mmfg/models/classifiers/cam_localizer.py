"""CAM localiser: any GAP + linear classifier as a WSOL model.

Public signature (stable)::

    CAMLocalizer(backbone, neck=dict(type='GlobalAveragePooling'), head,
                 cam_class='gt', map_source='cam', centre_power=1.0, ...)
    # predict() -> DataSample with loc_map (h, w), pred_score, pred_label

Class activation maps (Zhou et al., "Learning Deep Features for
Discriminative Localization", CVPR 2016): with a backbone feature map
``F (K, h, w)``, global average pooling and a linear classifier ``W (C, K)``,
the map of class ``c`` is ``sum_k W[c, k] F[k]``. ``loc_map`` is that map at
the feature resolution; :class:`~mmfg.evaluation.LocalizationMetric`
resizes it to the input (bicubic) as the protocol does.

``map_source='centre'`` replaces the map by a class-agnostic centred pyramid
``1 - max(|x - cx| / (W / 2), |y - cy| / (H / 2))`` whose threshold sets are
centred boxes with the image's aspect ratio, so the tau sweep reports the
best centre box: the baseline every WSOL number should clearly beat. The
classifier still gives ``pred_score`` (Top-1 Loc stays comparable).
"""
from typing import List, Optional

import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = ['CAMLocalizer', 'centre_map', 'class_activation_maps']


def class_activation_maps(feats: torch.Tensor, weight: torch.Tensor,
                          classes: torch.Tensor) -> torch.Tensor:
    """CAMs of one class per image.

    Args:
        feats (Tensor): ``(B, K, h, w)`` last feature map.
        weight (Tensor): ``(C, K)`` linear classifier weight.
        classes (Tensor): ``(B,)`` int64 class of each image.

    Returns:
        Tensor: ``(B, h, w)`` maps.
    """
    return torch.einsum('bkhw,bk->bhw', feats, weight[classes])


def centre_map(height: int, width: int, power: float = 1.0,
               device=None) -> torch.Tensor:
    """A centred pyramid whose level sets are centred boxes.

    Args:
        height (int): map height.
        width (int): map width.
        power (float): exponent (does not change the level sets).
        device: tensor device.

    Returns:
        Tensor: ``(height, width)`` in ``[0, 1]``, 1 at the centre.
    """
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5 -
          height / 2).abs() / (height / 2)
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5 -
          width / 2).abs() / (width / 2)
    m = 1 - torch.maximum(ys[:, None], xs[None, :])
    return m.clamp(min=0)**power


@MODELS.register_module()
class CAMLocalizer(ImageClassifier):
    """An MMPretrain ``ImageClassifier`` whose ``predict`` adds ``loc_map``.

    Args:
        backbone (dict): backbone config (e.g. ``ResNet`` with
            ``strides=(1, 2, 2, 1)`` for 14x14 maps at 224 px).
        neck (dict): must be ``GlobalAveragePooling``.
        head (dict): a head with a linear ``fc`` (``LinearClsHead``).
        cam_class (str): ``'gt'`` (the GT class; the GT-known protocol,
            falls back to the prediction when a sample has no label) or
            ``'pred'`` (the top-1 class).
        map_source (str): ``'cam'`` or ``'centre'`` (the centre-box
            baseline, see the module docstring).
        centre_power (float): exponent of the centre map.
        **kwargs: the rest of :class:`mmpretrain.models.ImageClassifier`.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = dict(type='GlobalAveragePooling'),
                 cam_class: str = 'gt',
                 map_source: str = 'cam',
                 centre_power: float = 1.0,
                 **kwargs) -> None:
        if cam_class not in ('gt', 'pred'):
            raise ConfigError(f'CAMLocalizer: cam_class={cam_class!r} must '
                              'be "gt" or "pred".')
        if map_source not in ('cam', 'centre'):
            raise ConfigError(f'CAMLocalizer: map_source={map_source!r} '
                              'must be "cam" or "centre".')
        if neck is None or 'GlobalAveragePooling' not in str(
                neck.get('type', '')):
            raise ConfigError(
                'CAMLocalizer: class activation maps need a global average '
                f'pooling neck, got neck={neck}. Use '
                "neck=dict(type='GlobalAveragePooling').")
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        fc = getattr(self.head, 'fc', None)
        if not isinstance(fc, torch.nn.Linear):
            raise ConfigError(
                'CAMLocalizer: the head must have a linear "fc" (e.g. '
                f'LinearClsHead); {type(self.head).__name__} has none.')
        self.cam_class = cam_class
        self.map_source = map_source
        self.centre_power = centre_power

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Classify and attach ``loc_map`` ``(h, w)`` to every sample.

        Args:
            inputs (Tensor): ``(B, 3, H, W)``.
            data_samples (list[DataSample], optional): with ``gt_label`` for
                ``cam_class='gt'``.

        Returns:
            list[DataSample]: with ``pred_score (C,)``, ``pred_label`` and
            ``loc_map (h, w)`` (feature resolution; ``(H, W)`` for the
            centre baseline).
        """
        feats = self.backbone(inputs)
        fmap = feats[-1]
        pooled = self.neck(feats)
        samples = self.head.predict(pooled, data_samples, **kwargs)
        if self.map_source == 'centre':
            m = centre_map(inputs.shape[-2], inputs.shape[-1],
                           self.centre_power, inputs.device)
            for s in samples:
                s.set_field(m.clone(), 'loc_map')
            return samples
        classes = []
        for s in samples:
            label = s.get('gt_label', None)
            if self.cam_class == 'gt' and label is not None and \
                    label.numel():
                classes.append(int(label.reshape(-1)[0]))
            else:
                classes.append(int(s.pred_label.reshape(-1)[0]))
        cls = torch.as_tensor(classes, device=fmap.device)
        cams = class_activation_maps(fmap, self.head.fc.weight, cls)
        for s, m in zip(samples, cams):
            s.set_field(m.detach().float(), 'loc_map')
        return samples

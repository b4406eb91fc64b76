"""ST-ProtoPNet head: support and trivial prototypes (Wang et al., ICCV 2023).

Two :class:`~mmfg.models.heads.prototype_layer.PrototypeLayer` branches with
cosine similarity (``ReLU(cos)``, max-pooled) and unit-norm prototypes
(re-normalised after every optimiser step by ``PrototypeRenormHook``). The
logits are the sum of both branches' logits. The *trivial* branch is pushed
away from the decision boundary (discrimination loss), the *support* branch
towards it (closeness loss).

``update_mode='alternate'`` reproduces the official schedule: successive
training batches optimise the trivial branch (even calls) and the support
branch (odd calls) in turn. ``update_mode='joint'`` optimises the sum of both
branch losses on every batch. With ``'alternate'`` only one branch receives
gradients per step, so DDP needs ``find_unused_parameters=True``.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.registry import MODELS
from .protopnet_head import Feats, PrototypeHeadMixin
from .prototype_layer import PrototypeLayer, build_mmfg_module

__all__ = ['STProtoPNetHead']

BRANCHES = ('trivial', 'support')


@MODELS.register_module()
class STProtoPNetHead(PrototypeHeadMixin, ClsHead):
    """ST-ProtoPNet classification head.

    Args:
        num_classes (int): number of classes.
        in_channels (int): backbone channels.
        prototypes_per_class (int): per branch (5 on CUB).
        prototype_dim (int): 64 on CUB.
        add_on_type (str): ``'linear'`` (official full-image model: two
            1x1 convs) or any type of
            :func:`~mmfg.models.heads.prototype_layer.build_add_on_layers`.
        upsample_factor (int): 2 for ResNet / DenseNet backbones, 1 for VGG
            (official).
        incorrect_class_connection (float): last-layer init (-0.5).
        loss_trivial (dict): loss of the trivial branch.
        loss_support (dict): loss of the support branch.
        update_mode (str): ``'alternate'`` (official) or ``'joint'``.
        in_index (int): backbone output used.
        num_extra_tokens (int): leading tokens of ViT inputs.
        token_hw (tuple, optional): token grid.
        img_size (tuple, optional): input ``(H, W)`` fallback.
        predict_locations (bool): add ``proto_loc`` in :meth:`predict`.
        topk (tuple): top-k accuracy.
        cal_acc (bool): report training accuracy.
        init_cfg (dict, optional): init config.
    """

    explanation_type = 'st_protopnet'

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 prototypes_per_class: int = 5,
                 prototype_dim: int = 64,
                 add_on_type: str = 'linear',
                 upsample_factor: int = 2,
                 incorrect_class_connection: float = -0.5,
                 loss_trivial: dict = dict(
                     type='STProtoPNetLoss',
                     separation_weight=0.08,
                     discrimination_weight=1.0,
                     prefix='trivial'),
                 loss_support: dict = dict(
                     type='STProtoPNetLoss',
                     separation_weight=0.48,
                     closeness_weight=1.0,
                     prefix='support'),
                 update_mode: str = 'alternate',
                 in_index: int = -1,
                 num_extra_tokens: int = 1,
                 token_hw: Optional[Tuple[int, int]] = None,
                 img_size: Optional[Tuple[int, int]] = None,
                 predict_locations: bool = True,
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        if update_mode not in ('alternate', 'joint'):
            raise ValueError("update_mode must be 'alternate' or 'joint', "
                             f'got {update_mode!r}')
        # ClsHead insists on building a loss; the branch losses live below.
        super().__init__(loss=nn.Identity(), topk=topk, cal_acc=cal_acc,
                         init_cfg=init_cfg)
        del self.loss_module
        self.num_classes = num_classes
        self.update_mode = update_mode
        self.img_size = tuple(img_size) if img_size is not None else None
        self.predict_locations = predict_locations
        self.push_records = None
        self._loss_calls = 0
        layer_cfg = dict(
            in_channels=in_channels,
            num_classes=num_classes,
            prototypes_per_class=prototypes_per_class,
            prototype_dim=prototype_dim,
            add_on_type=add_on_type,
            upsample_factor=upsample_factor,
            similarity='cosine',
            incorrect_class_connection=incorrect_class_connection,
            normalize_prototypes=True,
            in_index=in_index,
            num_extra_tokens=num_extra_tokens,
            token_hw=token_hw)
        self.trivial = PrototypeLayer(**layer_cfg)
        self.support = PrototypeLayer(**layer_cfg)
        self.losses = nn.ModuleDict(
            dict(
                trivial=build_mmfg_module(loss_trivial),
                support=build_mmfg_module(loss_support)))

    def prototype_layers(self) -> 'OrderedDict[str, PrototypeLayer]':
        """``trivial`` then ``support``."""
        return OrderedDict([('trivial', self.trivial),
                            ('support', self.support)])

    @property
    def last_layer(self) -> nn.ModuleList:
        """Both branches' last layers (updated by last-layer-only
        training)."""
        return nn.ModuleList([self.trivial.last_layer,
                              self.support.last_layer])

    @torch.no_grad()
    def renormalize_prototypes_(self) -> None:
        """Re-normalise both branches' prototypes (after an optimiser
        step)."""
        self.trivial.renormalize_prototypes_()
        self.support.renormalize_prototypes_()

    def pre_logits(self, feats: Feats) -> Tensor:
        """Pooled similarities of both branches ``(B, 2P)``."""
        return torch.cat([self.trivial(feats)['sim'],
                          self.support(feats)['sim']], 1)

    def forward(self, feats: Feats) -> Tensor:
        """Summed logits ``(B, C)``."""
        return self.trivial(feats)['logits'] + self.support(feats)['logits']

    def active_branches(self) -> Tuple[str, ...]:
        """Branches the next :meth:`loss` call optimises."""
        if self.update_mode == 'joint':
            return BRANCHES
        return (BRANCHES[self._loss_calls % 2], )

    def loss(self, feats: Feats, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Branch losses of a batch (one branch when alternating).

        Args:
            feats: backbone outputs.
            data_samples (list[DataSample]): with ``gt_label``.

        Returns:
            dict: ``loss_{branch}_{term}`` entries (see
            :class:`~mmfg.models.losses.STProtoPNetLoss`) and, with
            ``cal_acc``, the accuracy of the active branches' summed logits.
        """
        branches = self.active_branches()
        self._loss_calls += 1
        losses: Dict[str, Tensor] = {}
        logits = 0
        labels = None
        for name in branches:
            layer: PrototypeLayer = getattr(self, name)
            out = layer(feats)
            if labels is None:
                labels = torch.cat([ds.gt_label for ds in data_samples]).to(
                    out['logits'].device)
            losses.update(self.losses[name](
                out['logits'], out['sim'], labels, layer.prototypes,
                layer.prototype_class, layer.last_weight,
                layer.prototype_valid))
            logits = logits + out['logits']
        if self.cal_acc:
            from mmpretrain.evaluation.metrics import Accuracy
            acc = Accuracy.calculate(logits, labels, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a
                 for k, a in zip(self.topk, acc)})
        return losses

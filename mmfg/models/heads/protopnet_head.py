"""ProtoPNet head ("This Looks Like That", Chen et al., NeurIPS 2019).

The head owns the add-on layers, the prototypes and the last layer (one
:class:`~mmfg.models.heads.prototype_layer.PrototypeLayer`), so ProtoPNet is
an ordinary MMPretrain ``ImageClassifier`` with any backbone::

    model = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=34, out_indices=(3, )),
        head=dict(type='ProtoPNetHead', num_classes=200, in_channels=512))

:class:`PrototypeHeadMixin` holds what every prototype head shares: the
per-prototype predictions that interpretability metrics read, the push
records (kept in the checkpoint), and the "this looks like that"
explanation.
"""
import json
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.explain.prototypes import (argmax_location, high_activation_box,
                                     receptive_field_box, upsample_activation)
from mmfg.registry import MODELS
from .prototype_layer import PrototypeLayer, build_mmfg_module

__all__ = ['PrototypeHeadMixin', 'ProtoPNetHead']

Feats = Union[Tensor, Sequence[Tensor]]


class PrototypeHeadMixin(metaclass=ABCMeta):
    """Shared behaviour of prototype heads.

    A subclass provides :meth:`prototype_layers` (name → layer; ``''`` for a
    single branch), :meth:`_branch_outputs` and :attr:`explanation_type`.

    Push records (written by ``PrototypePushHook``) are kept in
    ``self.push_records`` and travel in the checkpoint through
    ``get_extra_state`` as a uint8 tensor holding their JSON (safe to load
    with ``weights_only``, and a tensor like every other state entry, so
    MMEngine's DDP start-up broadcast of the state dict works). Checkpoints
    that stored the records as a plain dict still load.
    """

    explanation_type = 'prototype'
    #: ``(H, W)`` used when the data samples carry no ``img_shape``.
    img_size: Optional[Tuple[int, int]] = None
    predict_locations: bool = True
    location_budget: int = 1 << 25

    # ------------------------------------------------------------- interface
    @abstractmethod
    def prototype_layers(self) -> 'OrderedDict[str, PrototypeLayer]':
        """The head's prototype layers, branch name → layer."""

    def _branch_outputs(self, feats: Feats) -> Dict[str, Dict[str, Tensor]]:
        """Run every branch's layer: name → :meth:`PrototypeLayer.forward`."""
        return OrderedDict(
            (name, layer(feats))
            for name, layer in self.prototype_layers().items())

    # ---------------------------------------------------------- push records
    def get_extra_state(self) -> Tensor:
        records = getattr(self, 'push_records', None)
        if records is None:
            return torch.zeros(0, dtype=torch.uint8)
        data = json.dumps(records).encode('utf-8')
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    def set_extra_state(self, state: Any) -> None:
        if isinstance(state, Tensor):
            data = state.cpu().numpy().tobytes()
            self.push_records = json.loads(data) if data else None
        elif isinstance(state, dict):  # checkpoints of earlier versions
            self.push_records = state.get('push_records')

    # -------------------------------------------------------------- geometry
    def _input_hw(self, data_samples: Optional[List[DataSample]],
                  map_hw: Tuple[int, int]) -> Tuple[int, int]:
        """Size of the tensor the model saw, from the data samples."""
        if data_samples:
            ds = data_samples[0]
            if ds is not None:
                for key in ('batch_input_shape', 'img_shape'):
                    if key in ds.metainfo:
                        return tuple(int(v) for v in ds.metainfo[key][:2])
        if self.img_size is not None:
            return tuple(int(v) for v in self.img_size)
        raise ValueError(
            'Cannot tell the input size for prototype locations: the data '
            "samples carry no 'img_shape' metainfo. Pack it (PackInputs / "
            'PackFGInputs meta_keys) or set img_size=(H, W) on the head.')

    def _locations(self, act: Tensor, hw: Tuple[int, int]) -> Tensor:
        """Argmax pixel of every upsampled activation map.

        Args:
            act (Tensor): ``(B, P, h, w)`` similarity maps.
            hw (tuple): input ``(H, W)``.

        Returns:
            Tensor: ``(B, P, 2)`` ``(x, y)``.
        """
        B, P = act.shape[:2]
        per_map = hw[0] * hw[1]
        chunk = max(1, self.location_budget // max(B * per_map, 1))
        locs = [
            argmax_location(upsample_activation(act[:, i:i + chunk], hw))
            for i in range(0, P, chunk)
        ]
        return torch.cat(locs, 1)

    # --------------------------------------------------------------- predict
    def _prototype_fields(
            self, feats: Feats,
            data_samples: Optional[List[DataSample]]) -> Dict[str, Tensor]:
        """Per-prototype quantities of every image, branches concatenated.

        Returns:
            dict: ``logits (B, C)``, ``sim (B, P)``, ``weight (C, P)``,
            ``cls (P,)``, ``valid (P,)``, ``branch (P,)`` (branch index),
            ``act (B, P, h, w)`` similarity maps and, with
            ``predict_locations``, ``loc (B, P, 2)``.
        """
        outs = self._branch_outputs(feats)
        layers = self.prototype_layers()
        logits = sum(o['logits'] for o in outs.values())
        acts = [layers[n].activation_maps(o['maps']) for n, o in outs.items()]
        act = torch.cat(acts, 1)
        fields = dict(
            logits=logits,
            sim=torch.cat([o['sim'] for o in outs.values()], 1),
            weight=torch.cat(
                [lay.last_weight for lay in layers.values()], 1),
            cls=torch.cat([lay.prototype_class for lay in layers.values()]),
            valid=torch.cat(
                [lay.prototype_valid for lay in layers.values()]),
            branch=torch.cat([
                torch.full((lay.num_prototypes, ), i, dtype=torch.long,
                           device=act.device)
                for i, lay in enumerate(layers.values())
            ]),
            pos=torch.cat([o['pos'] for o in outs.values()], 1),
            act=act)
        if self.predict_locations:
            hw = self._input_hw(data_samples, act.shape[-2:])
            fields['loc'] = self._locations(act.detach(), hw)
        return fields

    @torch.no_grad()
    def predict(
        self,
        feats: Feats,
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predict, and attach per-prototype results for interpretability
        metrics.

        Besides ``pred_score`` / ``pred_label`` every data sample gets
        ``proto_sim (P,)`` (pooled similarity), ``proto_contrib (P,)``
        (similarity x last-layer weight of the predicted class),
        ``proto_class (P,)``, ``proto_valid (P,)`` and, with
        ``predict_locations``, ``proto_loc (P, 2)``: the ``(x, y)`` input
        pixel of the highest bicubic-upsampled activation. With two
        branches ``P`` counts both (trivial first).
        """
        f = self._prototype_fields(feats, data_samples)
        preds = self._get_predictions(f['logits'].float(), data_samples)
        labels = torch.stack([p.pred_label[0] for p in preds]).long()
        contrib = f['sim'] * f['weight'][labels]  # (B, P)
        for i, ds in enumerate(preds):
            ds.set_field(f['sim'][i].float(), 'proto_sim')
            ds.set_field(contrib[i].float(), 'proto_contrib')
            ds.set_field(f['cls'], 'proto_class')
            ds.set_field(f['valid'], 'proto_valid')
            if 'loc' in f:
                ds.set_field(f['loc'][i], 'proto_loc')
        return preds

    # --------------------------------------------------------------- explain
    @torch.no_grad()
    def explain(self,
                feats: Feats,
                data_samples: Optional[List[DataSample]] = None,
                topk_classes: int = 3,
                topk_prototypes: int = 3,
                percentile: float = 95.,
                rf_threshold: float = 0.5,
                topk: Optional[int] = None,
                classes: Optional[Sequence[str]] = None
                ) -> List[Dict[str, Any]]:
        """"This looks like that": the evidence for the top classes.

        For each image and each of its ``topk_classes`` highest-scoring
        classes, the ``topk_prototypes`` prototypes with the largest
        contribution (similarity x class weight) to that class's logit.

        Args:
            feats: backbone outputs for a batch.
            data_samples (list[DataSample], optional): give ``img_shape``
                (the input size) and, if present, ``gt_label``.
            topk_classes (int): classes explained per image.
            topk_prototypes (int): prototypes listed per class.
            percentile (float): of the high-activation box.
            rf_threshold (float): see
                :func:`~mmfg.explain.prototypes.receptive_field_box`.
            topk (int, optional): sets both ``topk_classes`` and
                ``topk_prototypes`` (the ``--topk`` of
                ``tools/analysis_tools/explain.py``).
            classes (Sequence[str], optional): class names (given by
                :func:`mmfg.apis.explain` from the checkpoint's
                ``dataset_meta``); each explained class and the prediction
                then carry a ``name``.

        Returns:
            list[dict]: one per image, JSON-serialisable except the
            ``heatmap`` entries (float32 ``(H, W)`` numpy arrays in
            ``[0, 1]``, the upsampled activation min-max normalised). Keys:
            ``type``, ``img_shape``, ``pred_label``, ``pred_name``,
            ``gt_label``, ``classes`` (each: ``class``, ``name``, ``logit``,
            ``score``,
            ``prototypes``: ``index``, ``branch``, ``prototype_class``,
            ``similarity``, ``weight``, ``contribution``, ``location``,
            ``patch_box`` (high-activation box on this image), ``rf_box``,
            ``heatmap``, ``source`` (push record or None)).
        """
        if topk is not None:
            topk_classes = topk_prototypes = topk
        was_loc = self.predict_locations
        self.predict_locations = False
        try:
            f = self._prototype_fields(feats, data_samples)
        finally:
            self.predict_locations = was_loc
        act = f['act']
        hw = self._input_hw(data_samples, act.shape[-2:])
        map_hw = act.shape[-2:]
        names = list(self.prototype_layers().keys())
        offsets = np.cumsum(
            [0] +
            [lay.num_prototypes for lay in self.prototype_layers().values()])
        scores = F.softmax(f['logits'].float(), 1)
        k_cls = min(topk_classes, scores.shape[1])
        top_cls = f['logits'].topk(k_cls, dim=1).indices  # (B, k)
        # contribution of each prototype to each of the top classes
        w_top = f['weight'][top_cls]  # (B, k, P)
        contrib = f['sim'][:, None] * w_top
        contrib = contrib.masked_fill(~f['valid'][None, None], float('-inf'))
        k_p = min(topk_prototypes, contrib.shape[-1])
        top_p = contrib.topk(k_p, dim=-1).indices  # (B, k, kp)
        B = act.shape[0]
        sel = top_p.flatten(1)  # (B, k*kp)
        sel_act = act.gather(
            1, sel[:, :, None, None].expand(-1, -1, *map_hw))
        up = upsample_activation(sel_act, hw)  # (B, k*kp, H, W)
        locs = argmax_location(up)
        boxes = high_activation_box(up, percentile)
        pos = f['pos'].gather(1, sel)
        rf = receptive_field_box(pos // map_hw[1], pos % map_hw[1], map_hw,
                                 hw, rf_threshold)
        lo = up.flatten(2).min(-1).values[..., None, None]
        hi = up.flatten(2).max(-1).values[..., None, None]
        heat = ((up - lo) / (hi - lo).clamp_min(1e-12)).cpu().numpy()

        def cname(c: int) -> Optional[str]:
            return str(classes[c]) if classes is not None and c < len(
                classes) else None

        results = []
        records = getattr(self, 'push_records', None) or {}
        branches = records.get('branches', {}) if records else {}
        for b in range(B):
            ds = data_samples[b] if data_samples else None
            gt = None
            if ds is not None and 'gt_label' in ds:
                gt = int(ds.gt_label[0])
            per_class = []
            for ci in range(k_cls):
                c = int(top_cls[b, ci])
                protos = []
                for pi in range(k_p):
                    j = ci * k_p + pi
                    p = int(sel[b, j])
                    br = int(np.searchsorted(offsets, p, side='right') - 1)
                    local = p - int(offsets[br])
                    name = names[br]
                    recs = branches.get(name)
                    src = recs[local] if recs and local < len(recs) else None
                    s = float(f['sim'][b, p])
                    w = float(f['weight'][c, p])
                    protos.append(
                        dict(
                            index=local,
                            branch=name,
                            prototype_class=int(f['cls'][p]),
                            similarity=s,
                            weight=w,
                            contribution=s * w,
                            location=[int(v) for v in locs[b, j]],
                            patch_box=[int(v) for v in boxes[b, j]],
                            rf_box=[int(v) for v in rf[b, j]],
                            heatmap=heat[b, j].astype(np.float32),
                            source=src))
                per_class.append(
                    dict(
                        **{'class': c},
                        name=cname(c),
                        logit=float(f['logits'][b, c]),
                        score=float(scores[b, c]),
                        prototypes=protos))
            results.append(
                dict(
                    type=self.explanation_type,
                    img_shape=[int(hw[0]), int(hw[1])],
                    pred_label=int(top_cls[b, 0]),
                    pred_name=cname(int(top_cls[b, 0])),
                    gt_label=gt,
                    img_path=(ds.metainfo.get('img_path')
                              if ds is not None else None),
                    classes=per_class))
        return results


@MODELS.register_module()
class ProtoPNetHead(PrototypeHeadMixin, ClsHead):
    """ProtoPNet classification head.

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the backbone output used.
        prototypes_per_class (int): 10 on CUB.
        prototype_dim (int): 128 on CUB.
        add_on_type (str): ``'regular'`` or ``'bottleneck'`` (see
            :func:`~mmfg.models.heads.prototype_layer.build_add_on_layers`).
        upsample_factor (int): upsample the backbone map before the add-on.
        incorrect_class_connection (float): last-layer init to other
            classes (-0.5).
        eps (float): of the log similarity.
        loss (dict): loss config, ``ProtoPNetLoss`` by default.
        in_index (int): backbone output used.
        num_extra_tokens (int): class/dist tokens of ViT token inputs.
        token_hw (tuple, optional): token grid.
        img_size (tuple, optional): input ``(H, W)`` when the data samples
            carry no ``img_shape``.
        predict_locations (bool): add ``proto_loc`` in :meth:`predict`.
        topk (tuple): top-k accuracy.
        cal_acc (bool): report training accuracy.
        init_cfg (dict, optional): init config.
    """

    explanation_type = 'protopnet'

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 prototypes_per_class: int = 10,
                 prototype_dim: int = 128,
                 add_on_type: str = 'regular',
                 upsample_factor: int = 1,
                 incorrect_class_connection: float = -0.5,
                 eps: float = 1e-4,
                 loss: dict = dict(type='ProtoPNetLoss'),
                 in_index: int = -1,
                 num_extra_tokens: int = 1,
                 token_hw: Optional[Tuple[int, int]] = None,
                 img_size: Optional[Tuple[int, int]] = None,
                 predict_locations: bool = True,
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        loss_module = build_mmfg_module(loss)
        super().__init__(loss=loss_module, topk=topk, cal_acc=cal_acc,
                         init_cfg=init_cfg)
        self.num_classes = num_classes
        self.img_size = tuple(img_size) if img_size is not None else None
        self.predict_locations = predict_locations
        self.push_records = None
        self.layer = PrototypeLayer(
            in_channels=in_channels,
            num_classes=num_classes,
            prototypes_per_class=prototypes_per_class,
            prototype_dim=prototype_dim,
            add_on_type=add_on_type,
            upsample_factor=upsample_factor,
            similarity='log_l2',
            eps=eps,
            incorrect_class_connection=incorrect_class_connection,
            in_index=in_index,
            num_extra_tokens=num_extra_tokens,
            token_hw=token_hw)

    def prototype_layers(self) -> 'OrderedDict[str, PrototypeLayer]':
        """The single branch, under the name ``''``."""
        return OrderedDict([('', self.layer)])

    @property
    def last_layer(self) -> nn.Linear:
        """The ``(C, P)`` last layer (what last-layer-only training
        updates)."""
        return self.layer.last_layer

    def pre_logits(self, feats: Feats) -> Tensor:
        """Pooled prototype similarities ``(B, P)``."""
        return self.layer(feats)['sim']

    def forward(self, feats: Feats) -> Tensor:
        """Class logits ``(B, C)``."""
        return self.layer(feats)['logits']

    def loss(self, feats: Feats, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """ProtoPNet loss of a batch.

        Args:
            feats: backbone outputs.
            data_samples (list[DataSample]): with ``gt_label``.

        Returns:
            dict: loss terms (see :class:`ProtoPNetLoss`) and, with
            ``cal_acc``, ``accuracy_top-k``.
        """
        out = self.layer(feats)
        labels = torch.cat([ds.gt_label for ds in data_samples]).to(
            out['logits'].device)
        losses = self.loss_module(out['logits'], out['min_dist'], labels,
                                  self.layer.prototype_class,
                                  self.layer.last_weight,
                                  self.layer.prototype_valid)
        if self.cal_acc:
            from mmpretrain.evaluation.metrics import Accuracy
            acc = Accuracy.calculate(out['logits'], labels, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a
                 for k, a in zip(self.topk, acc)})
        return losses

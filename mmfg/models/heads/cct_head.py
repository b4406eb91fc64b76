"""Concept-Centric Transformer head (Hong, Park & Pavlic, CCT).

A classification head on the tokens of a ViT (``out_type='raw'``: the class
token first, then the ``N = h * w`` patch tokens)::

    model = dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='deit-small',
                      img_size=224, patch_size=16, out_type='raw'),
        head=dict(type='CCTHead', num_classes=200, in_channels=384,
                  concept_mapping='cub_cbm112'))

Two concept streams, summed into the class logits:

- **global**: a concept memory built per image by slot attention
  (:class:`~mmfg.models.utils.SlotAttention`) over the class token, plus a
  learned per-slot embedding that gives the slots an order; the class token
  cross-attends to these ``G`` concepts (token = query, concepts =
  keys/values) and the output is projected to the classes.
- **spatial**: ``S`` learned concept vectors; every patch token
  cross-attends to them; the per-patch outputs are averaged.

The attention weights (averaged over heads) are the explanation: ``(B, G)``
for the image and ``(B, N, S)`` per patch. With a
:class:`~mmfg.models.utils.ConceptMapping` they are supervised by the
image's attributes (``attributes`` data field, e.g. ``CUB(...,
with_attributes=True)``) and, for spatial concepts, the part keypoints
(``gt_parts``): loss ``NLL + 1.0 * explanation + 0.5 * sparsity``.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.explain.concepts import concept_explanations
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError
from ..utils.concept_attention import ConceptCrossAttention, SlotAttention
from ..utils.concept_mapping import ConceptMapping, build_concept_mapping

__all__ = ['CCTHead']


@MODELS.register_module()
class CCTHead(ClsHead):
    """Concept-Centric Transformer head.

    Args:
        num_classes (int): number of classes.
        in_channels (int): token size ``D`` of the backbone.
        concept_mapping (str | dict | ConceptMapping | None): which
            attributes supervise which concepts (see
            :mod:`mmfg.models.utils.concept_mapping`; presets
            ``'cub_cbm112'``, ``'cub_ct108'``, ``'cub312'``,
            ``'synthbirds'``). ``None``: unsupervised concepts (give the
            numbers below; only the sparsity term applies).
        num_global_concepts (int, optional): ``G``; defaults to the
            mapping's. 0 disables the global stream.
        num_spatial_concepts (int, optional): ``S``; defaults to the
            mapping's. 0 disables the spatial stream.
        num_heads (int): cross-attention heads (the attention is averaged
            over heads for the explanation).
        attn_drop (float): attention dropout. Defaults to 0.1 (CCT).
        proj_drop (float): output dropout. Defaults to 0.1 (CCT).
        slot_iters (int): slot-attention iterations. Defaults to 1 (CCT).
        slot_init (str): ``'gaussian'`` (CCT; the mean in eval mode) or
            ``'learned'``.
        loss (dict): classification loss; ``CrossEntropyLoss`` is the NLL of
            the log-softmax.
        expl_loss (dict, optional): ``ConceptExplanationLoss`` (weight 1.0).
        sparsity_loss (dict, optional): ``ConceptSparsityLoss`` (0.5).
        img_size (tuple[int, int], optional): input ``(H, W)`` used when the
            data samples carry no ``img_shape``.
        topk (tuple[int]): for ``ClsHead``.
        init_cfg (dict, optional): initialisation config.
    """

    explanation_type = 'cct'

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 concept_mapping: Union[str, dict, ConceptMapping,
                                        None] = 'cub_cbm112',
                 num_global_concepts: Optional[int] = None,
                 num_spatial_concepts: Optional[int] = None,
                 num_heads: int = 1,
                 attn_drop: float = 0.1,
                 proj_drop: float = 0.1,
                 slot_iters: int = 1,
                 slot_init: str = 'gaussian',
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 expl_loss: Optional[dict] = dict(
                     type='ConceptExplanationLoss', loss_weight=1.0),
                 sparsity_loss: Optional[dict] = dict(
                     type='ConceptSparsityLoss', loss_weight=0.5),
                 img_size: Optional[Tuple[int, int]] = None,
                 topk: Union[int, Tuple[int]] = (1, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(loss=loss, topk=topk, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.img_size = img_size
        self.mapping = None if concept_mapping is None else \
            build_concept_mapping(concept_mapping)
        G = self._concept_count('num_global_concepts', num_global_concepts,
                                'num_global')
        S = self._concept_count('num_spatial_concepts',
                                num_spatial_concepts, 'num_spatial')
        if G + S == 0:
            raise ConfigError(
                'CCTHead: no concepts (num_global_concepts and '
                'num_spatial_concepts are both 0).')
        self.num_global = G
        self.num_spatial = S
        if G:
            self.slot_attention = SlotAttention(
                G, in_channels, num_iters=slot_iters, init=slot_init)
            self.slot_pos = nn.Parameter(torch.empty(1, G, in_channels))
            nn.init.trunc_normal_(self.slot_pos, std=in_channels**-0.5)
            self.global_attention = ConceptCrossAttention(
                in_channels, num_heads, num_classes, attn_drop, proj_drop)
        if S:
            self.spatial_concepts = nn.Parameter(
                torch.empty(1, S, in_channels))
            nn.init.trunc_normal_(self.spatial_concepts,
                                  std=in_channels**-0.5)
            self.spatial_attention = ConceptCrossAttention(
                in_channels, num_heads, num_classes, attn_drop, proj_drop)
        self.expl_loss = None
        if expl_loss is not None and self.mapping is not None:
            self.expl_loss = MODELS.build(expl_loss)
        self.sparsity_loss = None if sparsity_loss is None else \
            MODELS.build(sparsity_loss)

    def _concept_count(self, key: str, value: Optional[int],
                       attr: str) -> int:
        mapped = None if self.mapping is None else getattr(self.mapping, attr)
        if value is None:
            if mapped is None:
                raise ConfigError(
                    f'CCTHead: {key} is needed when concept_mapping is None.')
            return mapped
        if mapped is not None and value not in (0, mapped):
            raise ConfigError(
                f'CCTHead: {key}={value} but concept_mapping '
                f'{self.mapping.preset or ""} defines {mapped}; leave '
                f'{key} unset (or 0 to disable the stream).')
        return int(value)

    # ---------------------------------------------------------------- forward
    def _tokens(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        x = feats[-1] if isinstance(feats, (list, tuple)) else feats
        if isinstance(x, (list, tuple)):  # ViT out_type='cls_token' pairs
            x = x[-1]
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ConfigError(
                f'CCTHead expects the ViT tokens (B, 1 + N, '
                f'{self.in_channels}) (class token first), got '
                f'{tuple(x.shape)}. Use VisionTransformer(out_type=\'raw\', '
                "with_cls_token=True) and in_channels = its embed_dims.")
        return x

    def forward_concepts(self, feats) -> Dict[str, Optional[Tensor]]:
        """Logits and concept attention.

        Args:
            feats: backbone outputs; the last is ``(B, 1 + N, D)``.

        Returns:
            dict: ``logits (B, C)``, ``global_attn (B, G)`` or None,
            ``spatial_attn (B, N, S)`` or None.
        """
        x = self._tokens(feats)
        cls_tok, patches = x[:, :1], x[:, 1:]
        logits = 0.
        global_attn = spatial_attn = None
        if self.num_global:
            concepts, _ = self.slot_attention(cls_tok)
            concepts = concepts + self.slot_pos.to(concepts.dtype)
            out, attn = self.global_attention(cls_tok, concepts)
            logits = logits + out[:, 0]
            global_attn = attn.mean(1)[:, 0]  # (B, G)
        if self.num_spatial:
            out, attn = self.spatial_attention(patches, self.spatial_concepts)
            logits = logits + out.mean(1)
            spatial_attn = attn.mean(1)  # (B, N, S)
        return dict(
            logits=logits,
            global_attn=global_attn,
            spatial_attn=spatial_attn)

    def forward(self, feats) -> Tensor:
        """Class logits ``(B, C)``."""
        return self.forward_concepts(feats)['logits']

    # --------------------------------------------------------------- geometry
    def geometry(self, num_patches: int,
                 data_samples: Optional[List[DataSample]]
                 ) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """Patch grid ``(h, w)`` and input size ``(H, W)``.

        The input size comes from the data samples' ``img_shape`` (or
        ``batch_input_shape``), else ``img_size``; the grid is the one of
        that aspect ratio holding ``num_patches`` patches.
        """
        hw = None
        ds = data_samples[0] if data_samples else None
        if ds is not None:
            for key in ('batch_input_shape', 'img_shape'):
                if key in ds.metainfo:
                    hw = tuple(int(v) for v in ds.metainfo[key][:2])
                    break
        if hw is None and self.img_size is not None:
            hw = tuple(int(v) for v in self.img_size)
        if hw is None:
            raise ConfigError(
                "CCTHead: the data samples carry no 'img_shape' metainfo; "
                'pack it (PackFGInputs does) or set img_size=(H, W) on the '
                'head.')
        H, W = hw
        stride = (H * W / max(num_patches, 1))**0.5
        grid = (max(1, round(H / stride)), max(1, round(W / stride)))
        if grid[0] * grid[1] != num_patches:
            raise ConfigError(
                f'CCTHead: {num_patches} patch tokens do not tile an input '
                f'of {H}x{W}; resize the input to a multiple of the patch '
                'size.')
        return grid, hw

    # ------------------------------------------------------------------ loss
    def _stack_field(self, data_samples: List[DataSample], key: str,
                     how: str, device) -> Tensor:
        values = []
        for ds in data_samples:
            v = ds.get(key)
            if v is None:
                raise ConfigError(
                    f'CCTHead: sample "{ds.get("img_path", "?")}" has no '
                    f'"{key}" field, needed by the explanation loss. {how}')
            values.append(torch.as_tensor(v))
        return torch.stack(values).to(device=device, dtype=torch.float32)

    def concept_targets(self, data_samples: List[DataSample],
                        num_patches: int,
                        device) -> Dict[str, Optional[Tensor]]:
        """Explanation targets of a batch (see :class:`ConceptMapping`).

        Returns:
            dict: ``global_target (B, G)``, ``global_valid (B,)``,
            ``spatial_target (B, N, S)``, ``spatial_valid (B, N)`` (None
            for a disabled stream).
        """
        attrs = self._stack_field(
            data_samples, 'attributes',
            'Set with_attributes=True on the dataset (CUB, SynthBirds) or '
            'concept_mapping=None / expl_loss=None on the head.', device)
        self.mapping.check_attributes(attrs, 'CCTHead')
        out: Dict[str, Optional[Tensor]] = dict.fromkeys(
            ('global_target', 'global_valid', 'spatial_target',
             'spatial_valid'))
        if self.num_global:
            out['global_target'], out['global_valid'] = \
                self.mapping.global_targets(attrs)
        if self.num_spatial:
            parts = self._stack_field(
                data_samples, 'gt_parts',
                'Spatial concepts are located by part keypoints: keep '
                'with_parts=True on the dataset.', device)
            grid, hw = self.geometry(num_patches, data_samples)
            out['spatial_target'], out['spatial_valid'] = \
                self.mapping.spatial_targets(attrs, parts, grid, hw)
        return out

    def loss(self, feats, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Classification, explanation and sparsity losses.

        Returns:
            dict: ``loss_cls`` (classification), ``loss_expl`` (with a mapping
            and ``expl_loss``), ``loss_sparsity`` (with ``sparsity_loss``).
        """
        out = self.forward_concepts(feats)
        losses = self._get_loss(out['logits'], data_samples, **kwargs)
        # 'loss' is the name MMEngine gives the total in the log
        losses['loss_cls'] = losses.pop('loss')
        if self.expl_loss is not None:
            n = self._tokens(feats).shape[1] - 1
            t = self.concept_targets(data_samples, n, out['logits'].device)
            losses['loss_expl'] = self.expl_loss(
                out['global_attn'], t['global_target'], t['global_valid'],
                out['spatial_attn'], t['spatial_target'], t['spatial_valid'])
        if self.sparsity_loss is not None:
            losses['loss_sparsity'] = self.sparsity_loss(
                out['global_attn'], out['spatial_attn'])
        return losses

    # --------------------------------------------------------------- predict
    @torch.no_grad()
    def predict(self,
                feats,
                data_samples: Optional[List[Optional[DataSample]]] = None
                ) -> List[DataSample]:
        """Predict; every sample also gets ``concept_scores (G,)`` (global
        attention) and ``spatial_concept_scores (S,)`` (spatial attention
        averaged over the patches) for concept metrics."""
        out = self.forward_concepts(feats)
        preds = self._get_predictions(out['logits'].float(), data_samples)
        sp = None if out['spatial_attn'] is None else \
            out['spatial_attn'].float().mean(1)
        for i, ds in enumerate(preds):
            if out['global_attn'] is not None:
                ds.set_field(out['global_attn'][i].float(), 'concept_scores')
            if sp is not None:
                ds.set_field(sp[i], 'spatial_concept_scores')
        return preds

    # --------------------------------------------------------------- explain
    @torch.no_grad()
    def explain(self,
                feats,
                data_samples: Optional[List[DataSample]] = None,
                topk_classes: int = 3,
                topk_concepts: int = 5,
                topk: Optional[int] = None,
                classes: Optional[Sequence[str]] = None,
                attribute_names: Optional[Sequence[str]] = None
                ) -> List[Dict[str, Any]]:
        """Concept explanation of every image of a batch.

        Args:
            feats: backbone outputs.
            data_samples (list[DataSample], optional): ``img_shape`` and,
                when present, ``gt_label``.
            topk_classes (int): classes listed.
            topk_concepts (int): spatial concepts with a map.
            topk (int, optional): sets ``topk_concepts`` (the ``--topk`` of
                ``tools/analysis_tools/explain.py``).
            classes (Sequence[str], optional): class names.
            attribute_names (Sequence[str], optional): the dataset's
                attribute names (``dataset_meta['attribute_names']``).

        Returns:
            list[dict]: see
            :func:`mmfg.explain.concepts.concept_explanations` (type
            ``'cct'``).
        """
        if topk is not None:
            topk_concepts = topk
        out = self.forward_concepts(feats)
        n = self._tokens(feats).shape[1] - 1
        grid, hw = self.geometry(n, data_samples)
        names = self.mapping.concept_names(attribute_names) \
            if self.mapping is not None else {'global': [], 'spatial': []}
        gt = None
        if data_samples:
            gt = [
                int(ds.gt_label[0]) if ds is not None and 'gt_label' in ds
                else None for ds in data_samples
            ]
        return concept_explanations(
            out['logits'], out['global_attn'], out['spatial_attn'], grid, hw,
            names['global'], names['spatial'], topk_classes, topk_concepts,
            classes, gt)

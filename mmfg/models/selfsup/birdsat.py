"""BirdSAT: cross-view contrastive masked autoencoders (Sastry et al. 2024).

Two pre-training algorithms over paired ground-level bird photos and
overhead (satellite) tiles, built from MMPretrain's MAE pieces
(:class:`~mmpretrain.models.selfsup.MAEViT`, ``MAEPretrainDecoder``,
``MAEPretrainHead`` with ``PixelReconstructionLoss``):

- :class:`CVEMAE` (cross-view embedding MAE): a ground MAE
  (:class:`BirdSATViT` + decoder + pixel head) and a satellite ViT; the
  class tokens of both views are pulled together by a symmetric InfoNCE
  (:class:`~mmfg.models.losses.InfoNCELoss`); as in the official code the
  ground token for InfoNCE comes from a second, unmasked ground forward
  (``unmasked_contrastive``), the reconstruction from the masked one.
  ``loss = rec_ground + 0.3 · InfoNCE``.
- :class:`CVMMAE` (cross-view masked MAE): one joint encoder
  (:class:`CVMMAEViT`) over the visible tokens of both views (each masked
  at 0.75), a decoder per view reconstructing it, and a pair-matching
  head (BCE on the joint class token: does this satellite tile belong to
  this photo?). ``loss = rec_ground + rec_sat + BCE``. As the official
  code (``pair_mode='rolled'``), the reconstruction sees only the true
  pairs and the matching head reads an unmasked joint forward of B true
  and B rolled (tile ``i - 1``) pairs; ``pair_mode='shift'`` keeps mmfg's
  old in-batch shifts of half the rows.

Meta (optional, both): location and date encodings (4-d each, see
``SpatioTemporalMeta(encoding='birdsat')``) go through one ``Linear(4→D)``
each (:class:`MetaEmbedding`, whole-batch meta dropout, p = 0.25 in the
paper). As in the official code the ground encoder never sees meta: CVE-MAE
adds the embedding to the satellite encoder's output class token
(``meta_position='sat_output'``), CVM-MAE to the joint encoder's output
class token before the matching head (``'joint_output'``; a mismatched pair
gets the meta of its satellite tile). The pre-2026-11 placement (meta added
to the input class token of the ground / joint encoder, so the ground
features depend on meta) stays available as ``meta_position='ground_input'``
/ ``'joint_input'`` with ``backbone.meta_dims``, for old checkpoints.

Inputs: ``inputs = [ground (B, 3, Hg, Wg), satellite (B, 3, Hs, Ws)]`` (the
data pipeline's ``CollectViews``), ``data_samples[i].meta`` a dict of
``location`` / ``time`` tensors. ``mode='predict'`` sets
``ground_embedding`` and ``overhead_embedding`` on the data samples for
:class:`~mmfg.evaluation.CrossViewRetrievalMetric`; ``mode='tensor'``
returns the ground encoder's features (a single tensor input is read as
ground images, so a classification dataset works for probing).

Fine-tuning: the ground encoder's state dict has exactly the keys of
MMPretrain's ``VisionTransformer`` (plus, for CVM-MAE,
``sat_patch_embed.*`` / ``view_embed``, which a classifier ignores), so a
classifier loads it with ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')`` (see ``configs/birdsat/README.md``);
the meta embedding is ``meta_embed.*`` of the algorithm (``backbone.
meta_embed.*`` under the old ``*_input`` placement, ignored as well).
"""
from contextlib import nullcontext
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmpretrain.models.selfsup import BaseSelfSupervisor, MAEViT
from mmpretrain.models.utils import (build_2d_sincos_position_embedding,
                                     resize_pos_embed)
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = [
    'MetaEmbedding', 'BirdSATViT', 'CVMMAEViT', 'CVEMAE', 'CVMMAE',
    'pair_matching_batch', 'rolled_pair_batch', 'gather_meta'
]

Inputs = Union[Tensor, Sequence[Tensor]]


def gather_meta(data_samples: Optional[Sequence[DataSample]],
                keys: Sequence[str],
                device: torch.device) -> Optional[Dict[str, Tensor]]:
    """Stack ``data_samples[i].meta[key]`` into ``(B, d)`` tensors.

    Args:
        data_samples (Sequence[DataSample], optional): the batch.
        keys (Sequence[str]): meta names needed.
        device (torch.device): target device.

    Returns:
        dict[str, Tensor] | None: None when there are no samples or they
        carry no ``meta`` (the model then runs without meta).

    Raises:
        KeyError: some samples have meta but not ``key`` (names the fix).
    """
    if not data_samples or not keys or 'meta' not in data_samples[0]:
        return None
    out = {}
    for key in keys:
        try:
            rows = [ds.meta[key] for ds in data_samples]
        except KeyError:
            raise KeyError(
                f'BirdSAT: the data samples have no meta "{key}" (they have '
                f'{sorted(data_samples[0].meta)}). Add '
                "SpatioTemporalMeta(encoding='birdsat') to the pipeline or "
                'set meta_dims of the backbone to the keys you have.'
            ) from None
        out[key] = torch.stack([torch.as_tensor(r) for r in rows]).to(
            device=device, dtype=torch.float32, non_blocking=True)
    return out


class MetaEmbedding(BaseModule):
    """Linear embeddings of meta vectors added to the class token.

    ``embed(meta) = Σ_k Linear_k(meta[k])`` (one ``Linear(d_k → D)`` per
    meta key, BirdSAT: ``location`` and ``time``, 4-d each). In training,
    the whole batch's meta is dropped with probability ``drop_prob`` (one
    draw per batch from torch's default CPU generator: no device sync,
    reproducible under ``torch.manual_seed``).

    Args:
        embed_dims (int): D.
        meta_dims (dict[str, int]): input size of each meta key.
        drop_prob (float): whole-batch meta dropout. Defaults to 0.25.
    """

    def __init__(self,
                 embed_dims: int,
                 meta_dims: Dict[str, int],
                 drop_prob: float = 0.25) -> None:
        super().__init__()
        if not 0.0 <= drop_prob <= 1.0:
            raise ConfigError('MetaEmbedding: drop_prob must be in [0, 1], '
                              f'got {drop_prob}.')
        self.meta_dims = dict(meta_dims)
        self.drop_prob = float(drop_prob)
        self.proj = nn.ModuleDict(
            {k: nn.Linear(d, embed_dims)
             for k, d in self.meta_dims.items()})

    def drop_batch(self) -> bool:
        """Draw whether this (training) batch loses its meta."""
        if not self.training or self.drop_prob == 0.0:
            return False
        return bool(torch.rand(()) < self.drop_prob)

    def forward(self, meta: Optional[Dict[str, Tensor]]) -> Optional[Tensor]:
        """Args: meta (dict[str, Tensor], optional): ``(B, d_k)`` per key.

        Returns:
            Tensor | None: ``(B, D)`` to add to the class token, or None
            (no meta, or dropped).
        """
        if meta is None or self.drop_batch():
            return None
        out = None
        for key, proj in self.proj.items():
            if key not in meta:
                raise KeyError(f'MetaEmbedding: meta "{key}" is missing '
                               f'(got {sorted(meta)}).')
            y = proj(meta[key])
            out = y if out is None else out + y
        return out


@MODELS.register_module()
class BirdSATViT(MAEViT):
    """MAE ViT whose input class token can carry location/date embeddings.

    Same arguments, state dict and masked forward as MMPretrain's
    :class:`~mmpretrain.models.selfsup.MAEViT` (so its checkpoints load
    into ``VisionTransformer``), plus an optional :class:`MetaEmbedding`
    on the input class token. That is the old ``meta_position=
    'ground_input'`` / ``'joint_input'`` placement only; the official
    placement (default of :class:`CVEMAE` / :class:`CVMMAE`) keeps the
    encoder meta-free.

    Args:
        meta_dims (dict[str, int], optional): meta keys and sizes, e.g.
            ``dict(location=4, time=4)``; None: no meta (the default, and
            required unless the algorithm's ``meta_position`` is an
            ``*_input`` one). Defaults to None.
        meta_drop_prob (float): whole-batch meta dropout. Defaults to 0.25.
        **kwargs: :class:`MAEViT` arguments (``arch``, ``img_size``,
            ``patch_size``, ``mask_ratio``, ``out_type``...).
    """

    def __init__(self,
                 meta_dims: Optional[Dict[str, int]] = None,
                 meta_drop_prob: float = 0.25,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.meta_embed = MetaEmbedding(
            self.embed_dims, meta_dims,
            meta_drop_prob) if meta_dims else None

    @property
    def meta_keys(self) -> Tuple[str, ...]:
        """Meta names the encoder reads (empty without meta)."""
        return tuple(self.meta_embed.meta_dims) if self.meta_embed else ()

    def class_token(self, batch: int,
                    meta: Optional[Dict[str, Tensor]]) -> Tensor:
        """Class token with its position and (maybe) meta: ``(B, 1, D)``."""
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(batch, -1, -1)
        extra = self.meta_embed(meta) if self.meta_embed is not None else None
        return cls if extra is None else cls + extra.unsqueeze(1)

    def embed_patches(self, x: Tensor) -> Tensor:
        """Patch tokens plus (resized if needed) positions: ``(B, L, D)``."""
        x, hw = self.patch_embed(x)
        pos = resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            hw,
            mode=self.interpolate_mode,
            num_extra_tokens=1)
        return x + pos[:, 1:]

    def encode(self, tokens: Tensor, cls: Tensor) -> Tensor:
        """Run ``[cls, tokens]`` through the layers and the final norm."""
        x = torch.cat([cls, tokens], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.norm1(x) if self.final_norm else x

    def forward(self,
                x: Tensor,
                mask: Optional[bool] = True,
                meta: Optional[Dict[str, Tensor]] = None):
        """Masked (pre-training) or full (feature) forward.

        Args:
            x (Tensor): ``(B, 3, H, W)`` images.
            mask (bool, optional): True: mask ``mask_ratio`` of the patches
                and return ``(latent (B, 1 + L_keep, D), mask (B, L),
                ids_restore (B, L))`` as ``MAEViT``; None/False: encode every
                patch and return a 1-tuple formatted by ``out_type``.
            meta (dict[str, Tensor], optional): ``(B, d_k)`` meta.

        Returns:
            tuple: see ``mask``.
        """
        tokens = self.embed_patches(x)
        cls = self.class_token(x.shape[0], meta)
        if mask:
            tokens, mask_, ids_restore = self.random_masking(
                tokens, self.mask_ratio)
            return self.encode(tokens, cls), mask_, ids_restore
        h, w = x.shape[-2] // self.patch_embed.projection.stride[0], \
            x.shape[-1] // self.patch_embed.projection.stride[1]
        return (self._format_output(self.encode(tokens, cls), (h, w)), )


@MODELS.register_module()
class CVMMAEViT(BirdSATViT):
    """Joint encoder of CVM-MAE over ground and satellite tokens.

    The ground view uses the inherited patch embedding / fixed sin-cos
    positions (its keys stay ``VisionTransformer``'s); the satellite view
    has its own patch embedding (``sat_patch_size`` at ``sat_img_size``)
    and fixed sin-cos positions. A learnable view embedding (2, D) tells the
    views apart. Each view is masked independently at ``mask_ratio``; one
    class token (with meta only under ``meta_position='joint_input'``) leads
    the joint sequence
    ``[cls, ground_visible, sat_visible]``.

    Args:
        sat_img_size (int): satellite image side. Defaults to 224.
        sat_patch_size (int): satellite patch size. Defaults to 16.
        **kwargs: :class:`BirdSATViT` arguments (ground ``img_size``,
            ``patch_size``, ``mask_ratio`` 0.75, ``meta_dims``...).
    """

    def __init__(self,
                 sat_img_size: int = 224,
                 sat_patch_size: int = 16,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.sat_patch_embed = PatchEmbed(
            in_channels=3,
            input_size=sat_img_size,
            embed_dims=self.embed_dims,
            conv_type='Conv2d',
            kernel_size=sat_patch_size,
            stride=sat_patch_size)
        self.sat_patch_resolution = self.sat_patch_embed.init_out_size
        self.sat_num_patches = (self.sat_patch_resolution[0] *
                                self.sat_patch_resolution[1])
        self.register_buffer(
            'sat_pos_embed',
            build_2d_sincos_position_embedding(
                self.sat_patch_resolution, self.embed_dims,
                cls_token=False).float(),
            persistent=False)
        self.view_embed = nn.Parameter(torch.zeros(2, self.embed_dims))

    def init_weights(self) -> None:
        """MAE initialisation of both patch embeddings and the view
        embedding."""
        super().init_weights()
        w = self.sat_patch_embed.projection.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.normal_(self.view_embed, std=.02)

    def embed_sat(self, x: Tensor) -> Tensor:
        """Satellite patch tokens with positions: ``(B, L_s, D)``."""
        x, hw = self.sat_patch_embed(x)
        if tuple(hw) != tuple(self.sat_patch_resolution):
            raise ValueError(
                f'CVMMAEViT: satellite images give {tuple(hw)} patches, the '
                f'model expects {tuple(self.sat_patch_resolution)}; resize '
                'them to sat_img_size.')
        return x + self.sat_pos_embed + self.view_embed[1]

    def forward(self,
                ground: Optional[Tensor],
                sat: Optional[Tensor] = None,
                mask: Optional[bool] = True,
                meta: Optional[Dict[str, Tensor]] = None):
        """Joint masked forward, or a full forward of one or both views.

        Args:
            ground (Tensor, optional): ``(B, 3, Hg, Wg)``.
            sat (Tensor, optional): ``(B, 3, Hs, Ws)``.
            mask (bool, optional): True (both views needed): return
                ``(latent (B, 1 + Kg + Ks, D), (mask_g (B, Lg), ids_g),
                (mask_s (B, Ls), ids_s))`` with ``Kg``/``Ks`` the visible
                tokens of each view. None/False: encode all given tokens
                and return the 1-tuple ``(cls (B, D),)`` (any
                ``out_type``: the joint class token).
            meta (dict[str, Tensor], optional): ``(B, d_k)`` meta.

        Returns:
            tuple: see ``mask``.
        """
        if ground is None and sat is None:
            raise ValueError('CVMMAEViT: give ground and/or sat images.')
        views = []
        if ground is not None:
            views.append(self.embed_patches(ground) + self.view_embed[0])
        if sat is not None:
            views.append(self.embed_sat(sat))
        batch = views[0].shape[0]
        cls = self.class_token(batch, meta)
        if not mask:
            return (self.encode(torch.cat(views, 1), cls)[:, 0], )
        if len(views) != 2:
            raise ValueError('CVMMAEViT: the masked forward needs both '
                             'views.')
        g, mask_g, ids_g = self.random_masking(views[0], self.mask_ratio)
        s, mask_s, ids_s = self.random_masking(views[1], self.mask_ratio)
        latent = self.encode(torch.cat([g, s], dim=1), cls)
        return latent, (mask_g, ids_g), (mask_s, ids_s)


def pair_matching_batch(batch_size: int,
                        neg_ratio: float = 0.5,
                        device: Union[str, torch.device] = 'cpu',
                        generator: Optional[torch.Generator] = None
                        ) -> Tuple[Tensor, Tensor]:
    """In-batch pairs of :class:`CVMMAE` ``pair_mode='shift'`` (mmfg's old
    pairing; the official one is :func:`rolled_pair_batch`).

    ``round(B · neg_ratio)`` random rows get another row's tile (row ``i``
    → ``(i + o) mod B`` with a random offset ``o ∈ [1, B - 1]``, so never
    its own); the others keep theirs. One batch then trains both the
    reconstruction (of the mismatched tiles too) and the pair-matching
    head. ``B = 1`` has no negative.

    Args:
        batch_size (int): B.
        neg_ratio (float): share of mismatched pairs. Defaults to 0.5.
        device (str | torch.device): device of the outputs.
        generator (torch.Generator, optional): CPU generator.

    Returns:
        tuple[Tensor, Tensor]: ``perm`` (B,) long (use ``sat[perm]``) and
        ``labels`` (B,) float, 1 for a true pair and 0 for a mismatched one.
    """
    num_neg = int(round(batch_size * neg_ratio)) if batch_size > 1 else 0
    perm = torch.arange(batch_size)
    chosen = torch.randperm(batch_size, generator=generator)[:num_neg]
    offset = torch.randint(
        1, max(batch_size, 2), (num_neg, ), generator=generator)
    perm[chosen] = (chosen + offset) % batch_size
    labels = torch.ones(batch_size)
    labels[chosen] = 0.0
    return perm.to(device), labels.to(device)


def rolled_pair_batch(batch_size: int,
                      device: Union[str, torch.device] = 'cpu'
                      ) -> Tuple[Tensor, Tensor, Tensor]:
    """Doubled matching batch of :class:`CVMMAE` ``pair_mode='rolled'``
    (the official ``CVMMAEMeta.forward``).

    Rows ``0..B-1`` are the true pairs ``(ground_i, tile_i)``; rows
    ``B..2B-1`` pair ``ground_i`` with ``tile_{(i - 1) mod B}`` (the tiles
    rolled by one, ``torch.roll(tiles, 1, 0)``), labelled 0. No random
    draw. ``B = 1`` has no other tile, so no negative row (the official
    code would label the true pair 0).

    Args:
        batch_size (int): B.
        device (str | torch.device): device of the outputs.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``ground_idx`` and ``sat_idx``
        (2B,) long (``ground[ground_idx]``, ``sat[sat_idx]``; B rows for
        ``B = 1``) and ``labels`` (2B,) float: B ones, then B zeros.
    """
    rows = torch.arange(batch_size, device=device)
    if batch_size < 2:
        return rows, rows, torch.ones(batch_size, device=device)
    ground_idx = torch.cat([rows, rows])
    sat_idx = torch.cat([rows, (rows - 1) % batch_size])
    labels = torch.cat([
        torch.ones(batch_size, device=device),
        torch.zeros(batch_size, device=device)
    ])
    return ground_idx, sat_idx, labels


def _has_pretrained_init(init_cfg) -> bool:
    """Whether an ``init_cfg`` (dict or list of dicts) loads weights."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(
        isinstance(c, dict) and c.get('type') == 'Pretrained' for c in cfgs)


class _CrossView(BaseSelfSupervisor):
    """Shared input and meta handling of the BirdSAT algorithms.

    Subclasses call :meth:`_setup_meta` after building their modules;
    ``self.meta_embed`` is then the algorithm's :class:`MetaEmbedding` (or
    None) and ``self.meta_input`` tells whether meta goes into the
    backbone's input class token (the old placement) instead.
    """

    #: ``(output placement (default), old input placement)``
    META_POSITIONS: Tuple[str, str] = ('', '')

    def _setup_meta(self, meta_dims: Optional[Dict[str, int]],
                    meta_drop_prob: float, meta_position: str,
                    embed_dims: int) -> None:
        """Check the meta placement and build ``self.meta_embed``.

        Args:
            meta_dims (dict[str, int], optional): model-level meta keys and
                sizes (official placement).
            meta_drop_prob (float): whole-batch meta dropout.
            meta_position (str): one of ``META_POSITIONS``.
            embed_dims (int): width of the class token the meta joins.

        Raises:
            ConfigError: unknown position, or meta configured on the side
                the position does not use (names the fix).
        """
        out_pos, in_pos = self.META_POSITIONS
        name = type(self).__name__
        if meta_position not in self.META_POSITIONS:
            raise ConfigError(
                f'{name}: meta_position must be {out_pos!r} (official) or '
                f'{in_pos!r} (old placement), got {meta_position!r}.')
        self.meta_position = meta_position
        self.meta_input = meta_position == in_pos
        has_backbone_meta = getattr(self.backbone, 'meta_embed',
                                    None) is not None
        if self.meta_input and meta_dims:
            raise ConfigError(
                f'{name}: meta_position={in_pos!r} reads the meta embedding '
                'of the backbone; set backbone.meta_dims instead of '
                'model.meta_dims.')
        if not self.meta_input and has_backbone_meta:
            raise ConfigError(
                f'{name}: backbone.meta_dims adds meta to the encoder\'s '
                f'input class token, which only meta_position={in_pos!r} '
                'uses (the old placement). For the official placement '
                f'({out_pos!r}) move meta_dims / meta_drop_prob from the '
                'backbone to the model; to keep the old behaviour (old '
                f'checkpoints) set model.meta_position={in_pos!r}.')
        self.meta_embed = MetaEmbedding(
            embed_dims, meta_dims, meta_drop_prob) if meta_dims else None

    @property
    def meta_keys(self) -> Tuple[str, ...]:
        """Meta names the model reads (empty without meta)."""
        if self.meta_embed is not None:
            return tuple(self.meta_embed.meta_dims)
        return getattr(self.backbone, 'meta_keys', ())

    def _input_meta(self, meta: Optional[Dict[str, Tensor]]
                    ) -> Optional[Dict[str, Tensor]]:
        """The meta the backbone's input class token gets (old placement
        only; None under the official one)."""
        return meta if self.meta_input else None

    def _add_meta(self, cls: Tensor,
                  meta: Optional[Dict[str, Tensor]]) -> Tensor:
        """``cls (B, D) + Σ_k Linear_k(meta_k)`` (official placement; the
        whole batch's meta may be dropped in training)."""
        extra = self.meta_embed(meta) if self.meta_embed is not None \
            else None
        return cls if extra is None else cls + extra

    def forward(self,
                inputs: Inputs,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'tensor'`` (ground features), ``'loss'`` or ``'predict'``
        (cross-view embeddings)."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    @staticmethod
    def _views(inputs: Inputs, need_sat: bool = True
               ) -> Tuple[Tensor, Optional[Tensor]]:
        if isinstance(inputs, Tensor):
            if need_sat:
                raise ValueError(
                    'BirdSAT: expected inputs=[ground, satellite] (use '
                    'CollectViews in the pipeline), got one tensor.')
            return inputs, None
        if len(inputs) != 2:
            raise ValueError('BirdSAT: expected two views [ground, '
                             f'satellite], got {len(inputs)}.')
        return inputs[0], inputs[1]

    def _meta(self, data_samples, device) -> Optional[Dict[str, Tensor]]:
        return gather_meta(data_samples, self.meta_keys, device)

    def predict(self, inputs: Inputs,
                data_samples: List[DataSample]) -> List[DataSample]:
        """Set ``ground_embedding`` / ``overhead_embedding`` (D,) fields
        (not normalised: the retrieval metric uses cosine distance)."""
        ground, sat = self._views(inputs)
        g, s = self.embed_views(ground, sat,
                                self._meta(data_samples, ground.device))
        for ds, gi, si in zip(data_samples, g, s):
            ds.set_field(gi, 'ground_embedding')
            ds.set_field(si, 'overhead_embedding')
        return data_samples


@MODELS.register_module()
class CVEMAE(_CrossView):
    """CVE-MAE: ground MAE + InfoNCE between ground and satellite tokens.

    Meta (official placement, ``meta_position='sat_output'``):
    ``overhead = sat_cls + Linear(location) + Linear(time)`` (before
    ``sat_proj`` and InfoNCE's L2 normalisation), the ground class token is
    meta-free, so probing / fine-tuning on ground images uses the encoder
    as trained.

    Args:
        backbone (dict): ground encoder, a :class:`BirdSATViT`.
        neck (dict): ground decoder, ``MAEPretrainDecoder``.
        head (dict): ground ``MAEPretrainHead``.
        sat_backbone (dict): satellite encoder returning ``(cls (B, D),)``,
            e.g. ``VisionTransformer(out_type='cls_token')``.
        contrastive_loss (dict): :class:`~mmfg.models.losses.InfoNCELoss`
            config (temperature; the official code uses plain cosine
            logits, τ = 1).
        contrastive_weight (float): weight of InfoNCE (paper 0.3).
        proj_dim (int, optional): linear projections of both class tokens
            to this size before InfoNCE; None compares the tokens directly
            (both encoders must then have the same width). Defaults to None.
        meta_dims (dict[str, int], optional): meta keys and sizes, e.g.
            ``dict(location=4, time=4)``; None: no meta. Defaults to None.
        meta_drop_prob (float): whole-batch meta dropout. Defaults to 0.25.
        meta_position (str): ``'sat_output'`` (official) or
            ``'ground_input'`` (old placement: meta on the ground encoder's
            input class token, configured by ``backbone.meta_dims``).
            Defaults to ``'sat_output'``.
        freeze_sat_backbone (bool): keep the satellite encoder fixed
            (``requires_grad=False``, always in eval mode, run without
            autograd), as the official code does with its pre-trained
            satellite MAE. Only meaningful with pre-trained weights.
            Defaults to False.
        unmasked_contrastive (bool, optional): True (official): InfoNCE
            compares the class token of a second, *unmasked* forward of
            the ground encoder (every patch, with gradient; the official
            ``forward_encoder(img_ground, 0)``), while the reconstruction
            keeps the masked forward. It costs one more ground-encoder
            forward + backward over ``1 + L`` tokens besides the masked
            one over ``1 + L/4`` (about 4-5x the masked encoder's
            compute). False: the masked forward's class token (mmfg
            before 2026-11-28; one forward). None: True, except under
            ``meta_position='ground_input'`` (the old placement keeps the
            old behaviour; True is refused there, as the second forward
            would draw its own meta dropout). Defaults to None.
        data_preprocessor (dict, optional): defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): initialisation.
    """

    META_POSITIONS = ('sat_output', 'ground_input')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 sat_backbone: dict,
                 contrastive_loss: dict = dict(
                     type='InfoNCELoss', temperature=0.07),
                 contrastive_weight: float = 0.3,
                 proj_dim: Optional[int] = None,
                 meta_dims: Optional[Dict[str, int]] = None,
                 meta_drop_prob: float = 0.25,
                 meta_position: str = 'sat_output',
                 freeze_sat_backbone: bool = False,
                 unmasked_contrastive: Optional[bool] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.sat_backbone = MODELS.build(sat_backbone)
        self.contrastive_loss = MODELS.build(contrastive_loss)
        self.contrastive_weight = float(contrastive_weight)
        g_dim = self.backbone.embed_dims
        s_dim = self.sat_backbone.embed_dims
        if proj_dim is None and g_dim != s_dim:
            raise ConfigError(
                f'CVEMAE: the ground ({g_dim}) and satellite ({s_dim}) '
                'encoders have different widths; set proj_dim.')
        self.ground_proj = nn.Linear(g_dim, proj_dim) if proj_dim \
            else nn.Identity()
        self.sat_proj = nn.Linear(s_dim, proj_dim) if proj_dim \
            else nn.Identity()
        self._setup_meta(meta_dims, meta_drop_prob, meta_position, s_dim)
        if unmasked_contrastive and self.meta_input:
            raise ConfigError(
                "CVEMAE: unmasked_contrastive=True with meta_position="
                "'ground_input' would run the ground encoder twice with "
                'independent meta dropout draws; the old placement keeps the '
                'old single masked forward: drop unmasked_contrastive or set '
                'it to False.')
        self.unmasked_contrastive = not self.meta_input \
            if unmasked_contrastive is None else bool(unmasked_contrastive)
        self.freeze_sat_backbone = bool(freeze_sat_backbone)
        if self.freeze_sat_backbone:
            self.sat_backbone.requires_grad_(False)
            self.sat_backbone.eval()
            if not _has_pretrained_init(sat_backbone.get('init_cfg')):
                print_log(
                    'CVEMAE: freeze_sat_backbone=True but sat_backbone has '
                    'no Pretrained init_cfg: unless you load weights '
                    'otherwise (load_from), the satellite encoder stays '
                    'random.', logger='current', level=30)

    def train(self, mode: bool = True) -> 'CVEMAE':
        """Set the training mode; a frozen satellite encoder stays in eval
        mode (no dropout / drop-path, fixed norm statistics)."""
        super().train(mode)
        if self.freeze_sat_backbone:
            self.sat_backbone.eval()
        return self

    def extract_feat(self,
                     inputs: Inputs,
                     data_samples: Optional[List[DataSample]] = None):
        """Ground features of the full image: the backbone's 1-tuple
        (meta-free unless ``meta_position='ground_input'``)."""
        ground, _ = self._views(inputs, need_sat=False)
        meta = self._meta(data_samples, ground.device) \
            if self.meta_input else None
        return self.backbone(ground, mask=None, meta=meta)

    def _sat_cls(self, sat: Tensor) -> Tensor:
        ctx = torch.no_grad() if self.freeze_sat_backbone else nullcontext()
        with ctx:
            out = self.sat_backbone(sat)
        out = out[-1] if isinstance(out, (tuple, list)) else out
        if out.dim() != 2:
            raise ConfigError('CVEMAE: sat_backbone must return (B, D) class '
                              "tokens; set out_type='cls_token'.")
        return out

    def _sat_feat(self, sat: Tensor,
                  meta: Optional[Dict[str, Tensor]]) -> Tensor:
        """Projected satellite class token, plus meta (official place)."""
        return self.sat_proj(self._add_meta(self._sat_cls(sat), meta))

    def _ground_feat(self, ground: Tensor,
                     meta: Optional[Dict[str, Tensor]]) -> Tensor:
        """Projected class token of the full (unmasked) ground image:
        ``(B, D')``."""
        g = self.backbone.encode(
            self.backbone.embed_patches(ground),
            self.backbone.class_token(ground.shape[0],
                                      self._input_meta(meta)))[:, 0]
        return self.ground_proj(g)

    def embed_views(
            self, ground: Tensor, sat: Tensor,
            meta: Optional[Dict[str, Tensor]]) -> Tuple[Tensor, Tensor]:
        """Projected class tokens of full ground and satellite images."""
        return self._ground_feat(ground, meta), self._sat_feat(sat, meta)

    def loss(self, inputs: Inputs,
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """``loss_rec`` (ground MAE) and ``loss_contrastive`` (weighted)."""
        ground, sat = self._views(inputs)
        meta = self._meta(data_samples, ground.device)
        latent, mask, ids_restore = self.backbone(
            ground, mask=True, meta=self._input_meta(meta))
        pred = self.neck(latent, ids_restore)
        loss_rec = self.head.loss(pred, ground, mask)
        # official: a second, unmasked ground forward for the contrastive
        # features (after the masked one, so the masking draws are as with
        # unmasked_contrastive=False)
        g = self._ground_feat(ground, meta) if self.unmasked_contrastive \
            else self.ground_proj(latent[:, 0])
        loss_con = self.contrastive_loss(g, self._sat_feat(sat, meta))
        return dict(
            loss_rec=loss_rec,
            loss_contrastive=self.contrastive_weight * loss_con)


@MODELS.register_module()
class CVMMAE(_CrossView):
    """CVM-MAE: joint masked encoder, both views reconstructed, pair
    matching.

    ``loss = loss_rec_ground + loss_rec_sat + match_weight · BCE`` (the
    official weights are 1, 1, 1). Pairs (``pair_mode='rolled'``, the
    official ``CVMMAEMeta.forward``): the masked forward reconstructs the
    B true pairs ``(ground_i, tile_i)``; the matching BCE is taken over an
    unmasked joint forward of 2B pairs, ``(ground_i, tile_i)`` labelled 1
    and ``(ground_i, tile_{i-1})`` labelled 0. ``'shift'`` is mmfg's
    older pairing (in-batch shifts of half the rows, used for everything).

    Meta (official placement, ``meta_position='joint_output'``): the
    embedding is added to the joint encoder's output class token before
    the matching head (a mismatched pair gets the meta of the satellite
    tile it was given, as the official code rolls the meta with the tiles)
    and, for retrieval, to the satellite view's class token; the decoders
    and the ground features are meta-free.

    Args:
        backbone (dict): a :class:`CVMMAEViT`.
        neck (dict): ground decoder (``MAEPretrainDecoder``, ``num_patches``
            of the ground view).
        head (dict): ground ``MAEPretrainHead``.
        sat_neck (dict): satellite decoder.
        sat_head (dict): satellite ``MAEPretrainHead``.
        match_weight (float): weight of the pair-matching BCE. Defaults
            to 1 (official: ``loss = loss_matching + loss_recon``).
        neg_ratio (float): share of mismatched pairs per batch under
            ``pair_mode='shift'`` (see :func:`pair_matching_batch`); the
            rolled batch is half negatives by construction, so it must be
            0.5 there. Defaults to 0.5.
        pair_mode (str, optional): how matched / mismatched pairs are made.
            ``'rolled'`` (official ``CVMMAEMeta.forward``): the masked
            forward and both reconstructions see only the B true pairs;
            the matching head reads the joint class tokens of an unmasked
            forward of a doubled batch, the B true pairs (label 1) and
            the B pairs with the tiles rolled by one (label 0, see
            :func:`rolled_pair_batch`), so each step runs the joint
            encoder over ``1 + Lg + Ls`` tokens for 2B pairs besides the
            masked B. ``'shift'`` (mmfg before 2026-11-28): half the rows
            get another row's tile (:func:`pair_matching_batch`), the
            masked forward and the reconstructions run on these pairs
            (mismatched tiles included), the matching on the same B pairs
            (``unmasked_match``). None: ``'rolled'``, except under
            ``meta_position='joint_input'`` (``'shift'``; ``'rolled'``
            needs ``unmasked_match=True``). Defaults to None.
        meta_dims (dict[str, int], optional): meta keys and sizes; None: no
            meta. Defaults to None.
        meta_drop_prob (float): whole-batch meta dropout. Defaults to 0.25.
        meta_position (str): ``'joint_output'`` (official) or
            ``'joint_input'`` (old placement: meta on the joint encoder's
            input class token, configured by ``backbone.meta_dims``).
            Defaults to ``'joint_output'``.
        unmasked_match (bool, optional): True (official): the matching
            head reads the joint class token of a second, *unmasked*
            forward of the (possibly mismatched) pairs (the official
            ``forward_encoder(ground, overhead, 0)``); the reconstruction
            keeps the masked forward. Costs one more joint forward +
            backward over all ``1 + Lg + Ls`` tokens. False: the masked
            forward's class token (mmfg before 2026-11-28, one forward).
            None: True, except under ``meta_position='joint_input'``
            (True is refused there: the second forward would draw its own
            meta dropout). Defaults to None.
        data_preprocessor (dict, optional): defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): initialisation.
    """

    META_POSITIONS = ('joint_output', 'joint_input')
    PAIR_MODES = ('rolled', 'shift')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 sat_neck: dict,
                 sat_head: dict,
                 match_weight: float = 1.0,
                 neg_ratio: float = 0.5,
                 meta_dims: Optional[Dict[str, int]] = None,
                 meta_drop_prob: float = 0.25,
                 meta_position: str = 'joint_output',
                 unmasked_match: Optional[bool] = None,
                 pair_mode: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not 0.0 <= neg_ratio < 1.0:
            raise ConfigError('CVMMAE: neg_ratio must be in [0, 1), got '
                              f'{neg_ratio}.')
        self.sat_neck = MODELS.build(sat_neck)
        self.sat_head = MODELS.build(sat_head)
        self.match_head = nn.Linear(self.backbone.embed_dims, 1)
        self.match_weight = float(match_weight)
        self.neg_ratio = float(neg_ratio)
        self._setup_meta(meta_dims, meta_drop_prob, meta_position,
                         self.backbone.embed_dims)
        if unmasked_match and self.meta_input:
            raise ConfigError(
                "CVMMAE: unmasked_match=True with meta_position="
                "'joint_input' would run the joint encoder twice with "
                'independent meta dropout draws; the old placement keeps the '
                'old single masked forward: drop unmasked_match or set it to '
                'False.')
        self.unmasked_match = not self.meta_input \
            if unmasked_match is None else bool(unmasked_match)
        if pair_mode is None:
            pair_mode = 'shift' if self.meta_input else 'rolled'
        if pair_mode not in self.PAIR_MODES:
            raise ConfigError(
                f"CVMMAE: pair_mode must be 'rolled' (official) or 'shift' "
                f'(old in-batch shifts), got {pair_mode!r}.')
        if pair_mode == 'rolled' and not self.unmasked_match:
            raise ConfigError(
                "CVMMAE: pair_mode='rolled' matches the doubled batch on an "
                'unmasked joint forward (official) and needs '
                "unmasked_match=True (not possible with meta_position="
                "'joint_input'); set pair_mode='shift' for the old masked "
                'matching.')
        if pair_mode == 'rolled' and self.neg_ratio != 0.5:
            raise ConfigError(
                "CVMMAE: pair_mode='rolled' has B true and B rolled pairs "
                f'(neg_ratio 0.5), got neg_ratio={neg_ratio}; drop '
                "neg_ratio or set pair_mode='shift'.")
        self.pair_mode = pair_mode

    def extract_feat(self,
                     inputs: Inputs,
                     data_samples: Optional[List[DataSample]] = None):
        """Joint class token of the full ground image alone: ``(cls,)``
        (meta-free unless ``meta_position='joint_input'``)."""
        ground, _ = self._views(inputs, need_sat=False)
        meta = self._meta(data_samples, ground.device) \
            if self.meta_input else None
        return self.backbone(ground, None, mask=None, meta=meta)

    def embed_views(
            self, ground: Tensor, sat: Tensor,
            meta: Optional[Dict[str, Tensor]]) -> Tuple[Tensor, Tensor]:
        """Class tokens of each view encoded alone (no masking); the
        satellite one carries the meta under the official placement."""
        in_meta = self._input_meta(meta)
        g = self.backbone(ground, None, mask=None, meta=in_meta)[0]
        s = self.backbone(None, sat, mask=None, meta=in_meta)[0]
        return g, self._add_meta(s, meta)

    def _reconstruct(self, ground: Tensor, sat: Tensor,
                     meta: Optional[Dict[str, Tensor]]
                     ) -> Tuple[Tensor, Tensor, Tensor]:
        """Masked joint forward of the pairs ``(ground, sat)`` and both
        reconstruction losses.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``loss_rec_ground``,
            ``loss_rec_sat`` (scalars) and the masked forward's class
            token ``(B, D)``.
        """
        latent, (mask_g, ids_g), (mask_s, ids_s) = self.backbone(
            ground, sat, mask=True, meta=self._input_meta(meta))
        # visible ground tokens, as MAEViT.random_masking keeps them
        num_g = int(ids_g.shape[1] * (1 - self.backbone.mask_ratio))
        cls = latent[:, :1]
        pred_g = self.neck(
            torch.cat([cls, latent[:, 1:1 + num_g]], 1), ids_g)
        pred_s = self.sat_neck(
            torch.cat([cls, latent[:, 1 + num_g:]], 1), ids_s)
        return (self.head.loss(pred_g, ground, mask_g),
                self.sat_head.loss(pred_s, sat, mask_s), latent[:, 0])

    def _match(self, joint: Tensor, labels: Tensor,
               tile_meta: Optional[Dict[str, Tensor]]
               ) -> Dict[str, Tensor]:
        """Weighted matching BCE of the joint class tokens ``(N, D)``
        (+ the meta of each pair's tile) and its accuracy (logged only)."""
        logits = self.match_head(self._add_meta(joint, tile_meta)).squeeze(-1)
        with torch.no_grad():
            acc = ((logits > 0).float() == labels).float().mean()
        return dict(
            loss_match=self.match_weight *
            F.binary_cross_entropy_with_logits(logits, labels),
            acc_match=acc)

    def loss(self, inputs: Inputs,
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """``loss_rec_ground``, ``loss_rec_sat`` and ``loss_match`` (plus
        ``acc_match``, the matching accuracy, logged, not optimised)."""
        ground, sat = self._views(inputs)
        meta = self._meta(data_samples, ground.device)
        if self.pair_mode == 'rolled':
            # official: reconstruct the true pairs only; match B true and
            # B rolled pairs on an unmasked joint forward
            rec_g, rec_s, _ = self._reconstruct(ground, sat, meta)
            g_idx, s_idx, labels = rolled_pair_batch(ground.shape[0],
                                                     ground.device)
            joint = self.backbone(ground[g_idx], sat[s_idx], mask=None)[0]
            tile_meta = None if meta is None else {
                k: v[s_idx]
                for k, v in meta.items()
            }
            return dict(
                loss_rec_ground=rec_g,
                loss_rec_sat=rec_s,
                **self._match(joint, labels, tile_meta))
        # 'shift' (old): the same B shifted pairs for everything
        perm, labels = pair_matching_batch(ground.shape[0], self.neg_ratio,
                                           ground.device)
        sat = sat[perm]
        rec_g, rec_s, masked_cls = self._reconstruct(ground, sat, meta)
        # the meta travels with the satellite tile of each pair
        tile_meta = None if meta is None else {
            k: v[perm]
            for k, v in meta.items()
        }
        # unmasked_match: a second, unmasked joint forward of the same
        # pairs (after the masked one: the same masking draws)
        joint = self.backbone(ground, sat, mask=None)[0] \
            if self.unmasked_match else masked_cls
        return dict(
            loss_rec_ground=rec_g,
            loss_rec_sat=rec_s,
            **self._match(joint, labels, tile_meta))

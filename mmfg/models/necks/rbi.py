"""RBI: Residual Relationship Attention + Relationship Position Encoding
(arXiv 2412.19606).

A plug-in neck that lets the pooled feature of each image attend to the
pooled features of the other images of the batch, with a residual path,
and biases that attention with the relationship between the *original*
images (their PSNR). Used with
:class:`~mmfg.models.classifiers.ImageNeckClassifier`, which hands the
input batch to the neck::

    model = dict(
        type='ImageNeckClassifier',
        backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
        neck=dict(type='RBINeck', in_channels=2048),
        head=dict(type='LinearClsHead', num_classes=200, in_channels=2048))

**Computation** (``x`` the ``(B, C)`` pooled features, ``t`` the images
average-pooled to ``psnr_size x psnr_size`` and flattened):

- relationship scores ``S[i, j] = clamp(PSNR(t_i, t_j), 0, max_psnr) /
  max_psnr`` in ``[0, 1]`` (1 on the diagonal), with
  ``PSNR = 10 log10(data_range^2 / MSE)`` and all MSEs from one matmul
  (``|a|^2 + |b|^2 - 2 a.b``; no pair loop): :func:`psnr_scores`;
- Relationship Position Encoding: a small MLP maps each ``S[i, j]`` to one
  bias per head;
- Residual Relationship Attention: multi-head attention of ``LN(x)`` over
  the keys/values of the relation set, plus the bias, projected back to
  ``C`` and added to ``x`` through a per-channel gate:
  ``out = x + gamma * (proj(A v) - proj(mean(v)))``,
  ``A = softmax(q k^T / sqrt(d) + RPE(S))``.

**Stabilisers (mmfg defaults, measured on SynthBirds, configs/rbi/README.md).**
Without them the neck *hurts* a from-scratch ResNet-18 by about 24 points:
under Adam the attention branch outgrows the identity path (its norm ends
about 5x ``|x|``) while the attention stays nearly uniform, so the head
reads a batch average instead of the image. Hence:

- ``layer_scale=0.``: ``gamma`` (per channel) starts at 0, so the neck
  starts as the identity and the branch grows only as far as it helps
  (``None``: no gate, the plain paper formula);
- ``center_values=True``: the values' mean over the relation set is
  subtracted, so uniform attention adds nothing: only *relations*
  (attention that departs from uniform) move a feature, not the batch
  composition;
- ``detach_others=True``: an image's loss reaches the other images'
  features only as constants (gradient into its own feature, the
  attention weights and the projections only).

**Training.** The relation set is the batch: ``relation_scope='local'``
relates the images of this GPU's batch; ``'global'`` relates every image of
the global batch (features gathered *with gradient* by
:func:`mmfg.utils.dist.all_gather_with_grad`, thumbnails gathered too); each
rank still outputs only its own rows. Both give the same result on one
process.

**Test time (documented, deterministic).** By default the output of an
image does not depend on the other images of the test batch; a batch of one
works:

- ``test_mode='memory'`` (default): each image attends to itself and to a
  memory bank of ``memory_size`` (feature, thumbnail) pairs of *training*
  images, so it sees a relation set like the ones it was trained with (set
  ``memory_size`` to the training relation-set size minus one, e.g. 31 for
  a batch of 32); the bank is a
  FIFO filled during training with the pre-attention features (detached;
  the global batch under DDP, so all ranks hold the same bank) and saved in
  the checkpoint as buffers. Training itself attends over the batch only.
  Before any training step the bank is empty and this falls back to
  ``'self'``.
- ``test_mode='self'``: each image attends only to itself. With
  ``center_values`` (default) that is exactly ``out = x``; without it
  ``out = x + gamma * proj(W_v LN(x))``, a relation set of one never seen
  in training (on SynthBirds the ungated, uncentred neck fell to chance in
  this mode, configs/rbi/README.md).

``transductive=True`` asks for batch attention at test time as well (the
prediction of an image then depends on the rest of its test batch).
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmfg.registry import MODELS
from mmfg.utils.dist import all_gather_with_grad
from mmfg.utils.errors import ConfigError
from ..classifiers.image_neck import last_feature_map

__all__ = ['RBINeck', 'psnr_scores', 'image_thumbnails']

#: span of a 0-255 channel after MMPretrain's ImageNet normalisation
IMAGENET_DATA_RANGE = 255.0 / 57.12


def image_thumbnails(images: Tensor, size: int) -> Tensor:
    """Average-pooled, flattened images for the relationship scores.

    Args:
        images (Tensor): ``(B, C, H, W)``.
        size (int): thumbnail side.

    Returns:
        Tensor: ``(B, C * size * size)`` in float32.
    """
    return F.adaptive_avg_pool2d(images.float(), size).flatten(1)


def psnr_scores(a: Tensor,
                b: Tensor,
                data_range: float = IMAGENET_DATA_RANGE,
                max_psnr: float = 40.0) -> Tensor:
    """Normalised PSNR between every row of ``a`` and every row of ``b``.

    ``S[i, j] = clamp(10 log10(data_range^2 / MSE(a_i, b_j)), 0, max_psnr)
    / max_psnr``; identical rows score 1. The MSEs come from one matmul.

    Args:
        a (Tensor): ``(N, D)``.
        b (Tensor): ``(M, D)``.
        data_range (float): peak-to-peak range of the pixel values.
        max_psnr (float): PSNR (dB) mapped to 1.

    Returns:
        Tensor: ``(N, M)`` in ``[0, 1]``.
    """
    a = a.float()
    b = b.float()
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None] - 2 * a @ b.t()
    mse = sq.clamp(min=0) / a.size(1)
    floor = data_range**2 * 10**(-max_psnr / 10)  # MSE at max_psnr dB
    psnr = 10 * torch.log10(data_range**2 / mse.clamp(min=floor))
    return psnr.clamp(0, max_psnr) / max_psnr


@MODELS.register_module()
class RBINeck(nn.Module):
    """Residual Relationship Attention with Relationship Position Encoding.

    Args:
        in_channels (int): channels ``C`` of the backbone's last map.
        embed_dims (int, optional): attention width; ``None``:
            ``min(C, 512)``. Must be divisible by ``num_heads``.
        num_heads (int): attention heads. Defaults to 8.
        rpe (bool): add the Relationship Position Encoding (ablation:
            ``False``). Defaults to True.
        rpe_hidden (int): hidden width of the RPE MLP. Defaults to 32.
        psnr_size (int): thumbnail side for the PSNR. Defaults to 32.
        data_range (float): pixel range of the input images (default: a
            0-255 channel after ImageNet normalisation, 255 / 57.12).
        max_psnr (float): PSNR (dB) normalised to 1. Defaults to 40.
        relation_scope (str): ``'local'`` (this GPU's batch) or ``'global'``
            (all ranks' batches, gathered with gradient). Defaults to
            ``'local'``.
        test_mode (str): ``'memory'`` or ``'self'`` (see module doc).
            Defaults to ``'memory'``.
        memory_size (int): entries of the memory bank
            (``test_mode='memory'``): the training relation-set size minus
            one. Defaults to 31.
        transductive (bool): batch attention at test time too. Defaults to
            False.
        dropout (float): dropout on the attention weights. Defaults to 0.
        aux_weight (float): weight of an auxiliary classification loss on
            the *unfused* pooled feature (training only; the classifier,
            :class:`~mmfg.models.classifiers.ImageNeckClassifier`, adds it
            as ``aux_loss``), which keeps the own-image path
            discriminative. 0 (default) disables it.
        detach_others (bool): stop the gradient of each image's output
            into the *other* images' features (its own feature, as key and
            value, keeps its gradient). Defaults to True.
        center_values (bool): subtract the mean value of the relation set
            from the attention output, so uniform attention is a no-op and
            a relation set of one (``test_mode='self'``) gives ``x``.
            Defaults to True.
        layer_scale (float, optional): initial value of the per-channel
            gate ``gamma`` on the attention branch; ``None``: no gate (the
            paper's plain residual). Defaults to 0.

    Shapes:
        ``forward(feats, images)``: ``feats`` the backbone output (the last
        map ``(B, C, h, w)`` or pooled ``(B, C)`` is used), ``images``
        ``(B, 3, H, W)`` → ``((B, C), )``.
    """

    SCOPES = ('local', 'global')
    TEST_MODES = ('memory', 'self')

    def __init__(self,
                 in_channels: int,
                 embed_dims: Optional[int] = None,
                 num_heads: int = 8,
                 rpe: bool = True,
                 rpe_hidden: int = 32,
                 psnr_size: int = 32,
                 data_range: float = IMAGENET_DATA_RANGE,
                 max_psnr: float = 40.0,
                 relation_scope: str = 'local',
                 test_mode: str = 'memory',
                 memory_size: int = 31,
                 transductive: bool = False,
                 dropout: float = 0.0,
                 aux_weight: float = 0.0,
                 detach_others: bool = True,
                 center_values: bool = True,
                 layer_scale: Optional[float] = 0.0) -> None:
        super().__init__()
        embed_dims = embed_dims or min(in_channels, 512)
        if embed_dims % num_heads:
            raise ConfigError(
                f'RBINeck: embed_dims={embed_dims} is not divisible by '
                f'num_heads={num_heads}; change one of them.')
        if relation_scope not in self.SCOPES:
            raise ConfigError(
                f'RBINeck: relation_scope={relation_scope!r}; choose '
                f'{self.SCOPES}.')
        if test_mode not in self.TEST_MODES:
            raise ConfigError(
                f'RBINeck: test_mode={test_mode!r}; choose '
                f'{self.TEST_MODES}.')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.psnr_size = psnr_size
        self.data_range = data_range
        self.max_psnr = max_psnr
        self.relation_scope = relation_scope
        self.test_mode = test_mode
        self.transductive = transductive
        self.aux_weight = float(aux_weight)
        self.detach_others = detach_others
        self.center_values = center_values
        self.norm = nn.LayerNorm(in_channels)
        self.q = nn.Linear(in_channels, embed_dims)
        self.kv = nn.Linear(in_channels, 2 * embed_dims)
        self.proj = nn.Linear(embed_dims, in_channels)
        self.attn_drop = nn.Dropout(dropout)
        self.rpe = nn.Sequential(
            nn.Linear(1, rpe_hidden), nn.ReLU(inplace=True),
            nn.Linear(rpe_hidden, num_heads)) if rpe else None
        self.gamma = nn.Parameter(torch.full(
            (in_channels, ), float(layer_scale))) \
            if layer_scale is not None else None
        if test_mode == 'memory':
            thumb_dim = 3 * psnr_size * psnr_size
            self.register_buffer('memory_feats',
                                 torch.zeros(memory_size, in_channels))
            self.register_buffer('memory_thumbs',
                                 torch.zeros(memory_size, thumb_dim))
            self.register_buffer('memory_ptr',
                                 torch.zeros((), dtype=torch.long))
            self.register_buffer('memory_full',
                                 torch.zeros((), dtype=torch.bool))

    # -------------------------------------------------------------- helpers
    def relation_scores(self, thumbs_q: Tensor, thumbs_k: Tensor) -> Tensor:
        """Normalised PSNR scores ``(Nq, Nk)`` between thumbnails."""
        return psnr_scores(thumbs_q, thumbs_k, self.data_range,
                           self.max_psnr)

    def _heads(self, t: Tensor) -> Tensor:
        """``(N, E)`` → ``(heads, N, E / heads)``."""
        return t.view(t.size(0), self.num_heads, -1).transpose(0, 1)

    def _bias(self, scores: Tensor) -> Tensor:
        """RPE bias ``(heads, Nq, Nk)`` from scores ``(Nq, Nk)``."""
        if self.rpe is None:
            return scores.new_zeros(())
        return self.rpe(scores.unsqueeze(-1)).permute(2, 0, 1)

    def _residual(self, x: Tensor, out: Tensor) -> Tensor:
        """``x + [gamma *] proj(out)`` for the attended values ``(N, E)``;
        with ``center_values`` the projection's bias is left out, so a
        centred output of 0 adds nothing: ``proj(a) - proj(mean)``."""
        out = F.linear(out, self.proj.weight,
                       None if self.center_values else self.proj.bias)
        return x + (out if self.gamma is None else self.gamma * out)

    def attend(self,
               x: Tensor,
               keys: Tensor,
               scores: Tensor,
               self_idx: Optional[Tensor] = None) -> Tensor:
        """Residual relationship attention of queries over a relation set.

        Args:
            x (Tensor): query features ``(Nq, C)``.
            keys (Tensor): relation-set features ``(Nk, C)``.
            scores (Tensor): relationship scores ``(Nq, Nk)``.
            self_idx (Tensor, optional): ``(Nq, )`` column of each query's
                own image in ``keys``; with ``detach_others`` only that
                column carries gradient into the features.

        Returns:
            Tensor: ``x + gamma * proj(attention [- mean value])``,
            ``(Nq, C)``.
        """
        q = self._heads(self.q(self.norm(x)))
        detach = self.detach_others and self_idx is not None
        k, v = self.kv(self.norm(keys.detach() if detach else keys)).chunk(
            2, dim=-1)
        k, v = self._heads(k), self._heads(v)
        scale = 1 / math.sqrt(q.size(-1))
        logits = q @ k.transpose(1, 2) * scale
        if detach:
            # straight-through on the own column: same value, gradient
            # into the query's own feature only
            k_s, v_s = self.kv(self.norm(x)).chunk(2, dim=-1)
            k_s, v_s = self._heads(k_s), self._heads(v_s)
            rows = torch.arange(x.size(0), device=x.device)
            k_d, v_d = k[:, self_idx], v[:, self_idx]
            delta = torch.zeros_like(logits)
            delta[:, rows, self_idx] = ((q * (k_s - k_d)).sum(-1) * scale)
            logits = logits + delta
        logits = logits + self._bias(scores.to(logits.dtype))
        attn = self.attn_drop(torch.softmax(logits, dim=-1))
        out = attn @ v
        if detach:
            out = out + attn[:, rows, self_idx].unsqueeze(-1) * (v_s - v_d)
        if self.center_values:
            mean = v.mean(1, keepdim=True)
            if detach:  # the own value's share of the mean keeps gradient
                mean = mean + (v_s - v_d) / v.size(1)
            out = out - mean
        return self._residual(x, out.transpose(0, 1).reshape(x.size(0), -1))

    def attend_self_and_memory(self, x: Tensor, thumbs: Tensor) -> Tensor:
        """Test-time attention of each image over itself and the memory
        bank (``(B, C)``, ``(B, D)`` → ``(B, C)``); batch-independent. Reads
        the bank's fill level on the host once per call."""
        n_mem = (self.memory_feats.size(0) if bool(self.memory_full) else
                 int(self.memory_ptr))
        if n_mem == 0:
            return self.attend_self(x)
        mem = self.memory_feats[:n_mem].to(x.dtype)
        q = self._heads(self.q(self.norm(x)))  # (h, B, d)
        k_s, v_s = self.kv(self.norm(x)).chunk(2, dim=-1)
        k_m, v_m = self.kv(self.norm(mem)).chunk(2, dim=-1)
        k_s, v_s = self._heads(k_s), self._heads(v_s)
        k_m, v_m = self._heads(k_m), self._heads(v_m)
        scale = 1 / math.sqrt(q.size(-1))
        own = (q * k_s).sum(-1, keepdim=True) * scale  # (h, B, 1)
        mem_logits = q @ k_m.transpose(1, 2) * scale  # (h, B, M)
        scores = torch.cat([
            x.new_ones(x.size(0), 1),
            self.relation_scores(thumbs, self.memory_thumbs[:n_mem])
        ], dim=1)
        logits = torch.cat([own, mem_logits], dim=-1) + self._bias(
            scores.to(x.dtype))
        attn = torch.softmax(logits, dim=-1)
        out = attn[..., :1] * v_s + attn[..., 1:] @ v_m
        if self.center_values:  # mean over each query's set: self + bank
            out = out - (v_s + v_m.sum(1, keepdim=True)) / (n_mem + 1)
        return self._residual(x, out.transpose(0, 1).reshape(x.size(0), -1))

    def attend_self(self, x: Tensor) -> Tensor:
        """Each image attends only to itself: ``x + proj(W_v LN(x))``."""
        v = self.kv(self.norm(x)).chunk(2, dim=-1)[1]
        if self.center_values:  # a set of one: the value is its own mean
            v = torch.zeros_like(v)
        return self._residual(x, v)

    @staticmethod
    def _own_rows(x: Tensor) -> Tensor:
        """Rows of this rank's images in the gathered global batch."""
        rank = torch.distributed.get_rank() if (
            torch.distributed.is_available()
            and torch.distributed.is_initialized()) else 0
        ids = all_gather_with_grad(
            torch.full((x.size(0), ), rank, device=x.device))
        return (ids == rank).nonzero().squeeze(1)

    @torch.no_grad()
    def _update_memory(self, feats: Tensor, thumbs: Tensor) -> None:
        """FIFO write of (detached) training features and thumbnails."""
        size = self.memory_feats.size(0)
        n = min(feats.size(0), size)
        idx = (self.memory_ptr + torch.arange(n, device=feats.device)) % size
        self.memory_feats[idx] = feats[-n:].detach().to(
            self.memory_feats.dtype)
        self.memory_thumbs[idx] = thumbs[-n:].to(self.memory_thumbs.dtype)
        new_ptr = self.memory_ptr + n
        self.memory_full |= new_ptr >= size
        self.memory_ptr.copy_(new_ptr % size)

    # -------------------------------------------------------------- forward
    def forward(self,
                inputs: Sequence[Tensor],
                images: Optional[Tensor] = None) -> Tuple[Tensor]:
        """Relate the images of the batch (training / transductive) or each
        image to itself / the memory bank (test).

        Args:
            inputs (tuple[Tensor] | Tensor): backbone output.
            images (Tensor): input batch ``(B, 3, H, W)``.

        Returns:
            tuple[Tensor]: ``((B, C), )``; in training with ``aux_weight >
            0`` ``(unfused (B, C), fused (B, C))``.
        """
        if images is None:
            raise ConfigError(
                'RBINeck needs the input images: use '
                "model=dict(type='ImageNeckClassifier', ...) instead of "
                "'ImageClassifier' in the config.")
        feat = last_feature_map(inputs)
        x = feat.mean(dim=(2, 3)) if feat.dim() == 4 else feat
        batch_mode = self.training or self.transductive
        if not batch_mode and self.test_mode == 'self':
            return (self.attend_self(x), )
        thumbs = image_thumbnails(images, self.psnr_size)
        if not batch_mode:
            return (self.attend_self_and_memory(x, thumbs), )
        if self.relation_scope == 'global':
            keys = all_gather_with_grad(x)
            key_thumbs = all_gather_with_grad(thumbs)
            self_idx = self._own_rows(x) if self.detach_others else None
        else:
            keys, key_thumbs = x, thumbs
            self_idx = torch.arange(x.size(0), device=x.device)
        out = self.attend(x, keys, self.relation_scores(thumbs, key_thumbs),
                          self_idx)
        if self.training and self.test_mode == 'memory':
            # the whole global batch, so every rank keeps the same bank
            if self.relation_scope == 'local':
                keys = all_gather_with_grad(x.detach())
                key_thumbs = all_gather_with_grad(thumbs)
            self._update_memory(keys, key_thumbs)
        if self.training and self.aux_weight > 0:
            return (x, out)  # heads read the last (fused) feature
        return (out, )

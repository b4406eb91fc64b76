"""MetaFormer: a hybrid conv/attention backbone with meta-information tokens.

"MetaFormer: A Unified Meta Framework for Fine-Grained Recognition" (Diao et
al., 2022). A convolutional stem and two MBConv stages are followed by two
stages of multi-head self-attention with a relative position bias; each
attention stage starts with a class token and, optionally, one or more
*meta tokens* (location, date, attributes, text embeddings...) encoded by
small MLPs. The class tokens of the two attention stages are fused into the
image feature.

Relative position bias and extra tokens: the official code pads the
relative position index of the class/meta tokens with ``0``, i.e. every
pair involving an extra token shares the bias of the real offset
``(-(h-1), -(w-1))`` (a corner-to-corner patch pair). Here the table has
three dedicated entries after the ``(2h-1)(2w-1)`` patch offsets (as in
BEiT): extra token → patch, patch → extra token, extra token → extra token.
``tools/model_converters/metaformer_official2mmfg.py`` copies the official
shared entry into the three, so converted checkpoints compute exactly what
they computed before.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = [
    'MetaFormer', 'relative_position_index', 'resize_rel_pos_bias_table',
    'MetaEncoder'
]

#: Number of dedicated bias entries for class/meta tokens.
NUM_EXTRA_BIAS = 3


def relative_position_index(grid: Tuple[int, int], num_extra: int) -> Tensor:
    """Index into the relative position bias table for every token pair.

    Tokens are ``num_extra`` extra tokens (class, meta) followed by the
    ``h * w`` patches in row-major order. With ``T = (2h-1)(2w-1)``, a patch
    pair with offset ``(dy, dx) = (y_i - y_j, x_i - x_j)`` reads entry
    ``(dy + h - 1) * (2w - 1) + dx + w - 1``; extra → patch reads ``T``,
    patch → extra ``T + 1``, extra → extra ``T + 2``.

    Args:
        grid (tuple[int, int]): patch grid ``(h, w)``.
        num_extra (int): number of extra tokens before the patches.

    Returns:
        Tensor: int64 ``(E + h*w, E + h*w)``.
    """
    h, w = grid
    ys, xs = torch.meshgrid(
        torch.arange(h), torch.arange(w), indexing='ij')
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + h - 1
    dx = xs[:, None] - xs[None, :] + w - 1
    num_offsets = (2 * h - 1) * (2 * w - 1)
    n = num_extra + h * w
    index = torch.full((n, n), num_offsets + 2, dtype=torch.long)
    index[:num_extra, num_extra:] = num_offsets
    index[num_extra:, :num_extra] = num_offsets + 1
    index[num_extra:, num_extra:] = dy * (2 * w - 1) + dx
    return index


def resize_rel_pos_bias_table(table: Tensor,
                              src_grid: Tuple[int, int],
                              dst_grid: Tuple[int, int],
                              num_extra_entries: int = NUM_EXTRA_BIAS
                              ) -> Tensor:
    """Resample a relative position bias table to another patch grid.

    The ``(2h-1, 2w-1)`` offset plane of each head is resized bicubically
    with ``align_corners=True``, so the zero offset and the extreme offsets
    map onto themselves; the trailing ``num_extra_entries`` rows (class/meta
    token entries) are kept as they are.

    Args:
        table (Tensor): ``((2h-1)(2w-1) + num_extra_entries, num_heads)``.
        src_grid (tuple[int, int]): ``(h, w)`` the table was made for.
        dst_grid (tuple[int, int]): ``(H, W)`` wanted.
        num_extra_entries (int): trailing non-offset rows. Defaults to 3.

    Returns:
        Tensor: ``((2H-1)(2W-1) + num_extra_entries, num_heads)``.

    Raises:
        ValueError: ``table`` does not have the rows ``src_grid`` implies.
    """
    (h, w), (dh, dw) = tuple(src_grid), tuple(dst_grid)
    num_offsets = (2 * h - 1) * (2 * w - 1)
    if table.shape[0] != num_offsets + num_extra_entries:
        raise ValueError(
            f'resize_rel_pos_bias_table: a table for grid {(h, w)} with '
            f'{num_extra_entries} extra entries has {num_offsets} + '
            f'{num_extra_entries} rows, got {table.shape[0]}.')
    if (h, w) == (dh, dw):
        return table
    offsets, extra = table[:num_offsets], table[num_offsets:]
    plane = offsets.T.reshape(1, -1, 2 * h - 1, 2 * w - 1).float()
    plane = F.interpolate(
        plane, size=(2 * dh - 1, 2 * dw - 1), mode='bicubic',
        align_corners=True)
    offsets = plane.reshape(table.shape[1], -1).T.to(table.dtype)
    return torch.cat([offsets, extra], dim=0)


def _down(size: int, times: int) -> int:
    for _ in range(times):
        size = math.ceil(size / 2)
    return size


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation with SiLU (EfficientNet style).

    Args:
        channels (int): channels of the input.
        squeeze_channels (int): bottleneck width.
    """

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Reweight channels of ``x`` ``(B, C, H, W)``."""
        s = F.adaptive_avg_pool2d(x, 1)
        s = self.expand(F.silu(self.reduce(s)))
        return x * torch.sigmoid(s)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, 3x3 depthwise, SE, 1x1 project.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        stride (int): depthwise stride. Defaults to 1.
        expand_ratio (int): hidden width / ``in_channels``. Defaults to 4.
        drop_path (float): stochastic depth of the residual branch.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 expand_ratio: int = 4,
                 drop_path: float = 0.) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        bn = dict(momentum=0.1, eps=0.01)
        self.expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(hidden, **bn)
        self.dw_conv = nn.Conv2d(
            hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
        self.dw_bn = nn.BatchNorm2d(hidden, **bn)
        self.se = SqueezeExcite(hidden, max(1, int(in_channels * 0.25)))
        self.project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(out_channels, **bn)
        self.residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W)`` → ``(B, C_out, H/stride, W/stride)``."""
        y = F.silu(self.expand_bn(self.expand_conv(x)))
        y = F.silu(self.dw_bn(self.dw_conv(y)))
        y = self.project_bn(self.project_conv(self.se(y)))
        return x + self.drop_path(y) if self.residual else y


class RelPosAttention(nn.Module):
    """Multi-head self-attention with a relative position bias.

    Args:
        dim (int): token width.
        num_heads (int): heads.
        grid (tuple[int, int]): patch grid the bias table is made for; other
            grids resize the table on the fly (bicubic).
        attn_drop (float): attention dropout. Defaults to 0.
        proj_drop (float): output dropout. Defaults to 0.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 grid: Tuple[int, int],
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f'MetaFormer: width {dim} is not divisible by '
                              f'num_heads={num_heads}.')
        self.num_heads = num_heads
        self.grid = tuple(grid)
        self.attn_drop = attn_drop
        h, w = self.grid
        self.rel_pos_bias_table = nn.Parameter(
            torch.zeros((2 * h - 1) * (2 * w - 1) + NUM_EXTRA_BIAS,
                        num_heads))
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_dropout = nn.Dropout(proj_drop)
        self._index_cache: Dict[Tuple[int, int, int, str], Tensor] = {}

    def rel_pos_bias(self, grid: Tuple[int, int], num_extra: int) -> Tensor:
        """The bias added to the attention logits.

        Args:
            grid (tuple[int, int]): current patch grid ``(h, w)``.
            num_extra (int): extra tokens before the patches.

        Returns:
            Tensor: ``(num_heads, N, N)``, ``N = num_extra + h*w``.
        """
        table = resize_rel_pos_bias_table(self.rel_pos_bias_table, self.grid,
                                          grid)
        key = (grid[0], grid[1], num_extra, str(table.device))
        index = self._index_cache.get(key)
        if index is None:
            index = relative_position_index(grid, num_extra).to(table.device)
            if len(self._index_cache) >= 16:  # multi-scale inputs: bounded
                self._index_cache.pop(next(iter(self._index_cache)))
            self._index_cache[key] = index
        n = index.shape[0]
        return table[index.view(-1)].view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: Tensor, grid: Tuple[int, int],
                num_extra: int) -> Tensor:
        """Attend over ``x`` ``(B, N, C)`` (extra tokens first)."""
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.rel_pos_bias(grid, num_extra).to(q.dtype)
        drop = self.attn_drop if self.training else 0.
        if x.is_cuda or not torch.is_grad_enabled():
            x = F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias.unsqueeze(0), dropout_p=drop)
        else:
            # On CPU the fused kernel's backward through a float mask is
            # about 2x slower than the explicit form
            # (tools/benchmarks/bench_metaformer.py).
            logits = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1) + bias
            x = F.dropout(logits.softmax(-1), drop, self.training) @ v
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_dropout(self.proj(x))


class Mlp(nn.Module):
    """Two-layer perceptron with GELU.

    Args:
        in_features (int): input width.
        hidden_features (int): hidden width.
        out_features (int, optional): output width (``in_features``).
        drop (float): dropout after each layer. Defaults to 0.
    """

    def __init__(self,
                 in_features: int,
                 hidden_features: int,
                 out_features: Optional[int] = None,
                 drop: float = 0.) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_features)`` → ``(..., out_features)``."""
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block with relative-position attention.

    Args:
        dim (int): token width.
        num_heads (int): heads.
        grid (tuple[int, int]): patch grid of the bias table.
        mlp_ratio (float): MLP hidden width / ``dim``.
        drop (float): dropout. Defaults to 0.
        attn_drop (float): attention dropout. Defaults to 0.
        drop_path (float): stochastic depth. Defaults to 0.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 grid: Tuple[int, int],
                 mlp_ratio: float = 4.,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RelPosAttention(dim, num_heads, grid, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()

    def forward(self, x: Tensor, grid: Tuple[int, int],
                num_extra: int) -> Tensor:
        """``(B, N, C)`` → ``(B, N, C)``."""
        x = x + self.drop_path(self.attn(self.norm1(x), grid, num_extra))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class PatchMerge(nn.Module):
    """Overlapping 3x3 stride-2 convolution + LayerNorm (stage transition).

    Args:
        in_channels (int): input channels.
        out_channels (int): token width.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """``(B, C, H, W)`` → tokens ``(B, ceil(H/2)*ceil(W/2), C')``."""
        x = self.conv(x)
        grid = (x.shape[2], x.shape[3])
        return self.norm(x.flatten(2).transpose(1, 2)), grid


class AttentionStage(nn.Module):
    """Patch merging then transformer blocks over [extra tokens, patches].

    Args:
        in_channels (int): channels of the incoming feature map.
        dim (int): token width.
        depth (int): number of blocks.
        num_heads (int): heads.
        grid (tuple[int, int]): patch grid at the configured image size.
        mlp_ratio (float): MLP ratio.
        drop_paths (Sequence[float]): stochastic depth per block.
        drop (float): dropout. Defaults to 0.
        attn_drop (float): attention dropout. Defaults to 0.
    """

    def __init__(self,
                 in_channels: int,
                 dim: int,
                 depth: int,
                 num_heads: int,
                 grid: Tuple[int, int],
                 mlp_ratio: float,
                 drop_paths: Sequence[float],
                 drop: float = 0.,
                 attn_drop: float = 0.) -> None:
        super().__init__()
        self.downsample = PatchMerge(in_channels, dim)
        self.blocks = nn.ModuleList([
            TransformerBlock(dim, num_heads, grid, mlp_ratio, drop, attn_drop,
                             drop_paths[i]) for i in range(depth)
        ])

    def forward(self, x: Tensor,
                extra: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """Run the stage.

        Args:
            x (Tensor): feature map ``(B, C_in, H, W)``.
            extra (Tensor): extra tokens ``(B, E, dim)`` (class token first).

        Returns:
            tuple[Tensor, tuple[int, int]]: tokens ``(B, E + h*w, dim)`` and
            the grid ``(h, w)``.
        """
        patches, grid = self.downsample(x)
        x = torch.cat([extra, patches], dim=1)
        for block in self.blocks:
            x = block(x, grid, extra.shape[1])
        return x, grid


class ResidualNormMLP(nn.Module):
    """``x + LN(ReLU(W2 LN(ReLU(W1 x))))`` (the meta encoder's residual part).

    Args:
        dim (int): width.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.fc2 = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., dim)`` → ``(..., dim)``."""
        y = self.norm1(F.relu(self.fc1(x)))
        return x + self.norm2(F.relu(self.fc2(y)))


class MetaEncoder(nn.Module):
    """Encode one kind of meta-information into tokens.

    ``Linear → ReLU → LayerNorm → ResidualNormMLP``, applied to the last
    dimension, so a ``(B, D)`` input gives one token and a ``(B, L, D)``
    input (e.g. ``L`` word embeddings) gives ``L`` tokens.

    Args:
        in_dim (int): meta dimension ``D``.
        dim (int): token width.
    """

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.fc = nn.Linear(in_dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.res = ResidualNormMLP(dim)

    def forward(self, meta: Tensor) -> Tensor:
        """``(B, D)`` or ``(B, L, D)`` → tokens ``(B, 1 or L, dim)``."""
        if meta.dim() == 2:
            meta = meta.unsqueeze(1)
        return self.res(self.norm(F.relu(self.fc(meta))))


@MODELS.register_module()
class MetaFormer(BaseModule):
    """MetaFormer backbone (MetaFormer-0/1/2 and a tiny variant).

    Stages (strides for a ``H x W`` input): conv stem + max-pool (/4),
    MBConv stage 1 (/4), MBConv stage 2 (/8), attention stage 3 (/16),
    attention stage 4 (/32). Stages 3 and 4 each prepend a learnable class
    token and one token per meta input (per word for ``(B, L, D)`` meta) to
    their patches; the two class tokens are fused (class token 3 is
    normalised and projected to stage 4's width, a 1x1 Conv1d mixes the
    pair, then LayerNorm).

    Meta: ``meta_dims`` names the meta inputs and their dimensions, e.g.
    ``dict(time=4, location=3)`` (iNaturalist, see
    :class:`~mmfg.datasets.transforms.SpatioTemporalMeta`) or
    ``dict(attributes=312)`` (CUB). ``forward(x, meta)`` takes a dict of
    ``(B, D)`` / ``(B, L, D)`` tensors with those keys; ``meta=None`` means
    "no meta known" and encodes zeros (what meta dropout trains for). With
    ``meta_dims=None`` the backbone has no meta tokens at all.

    Meta dropout: in training, ``round_down(B * meta_drop_prob)`` randomly
    chosen samples of the batch get all their meta zeroed
    (:class:`~mmfg.engine.hooks.MetaDropoutScheduleHook` decays it).

    Arch settings (``arch``): ``'0'``, ``'1'``, ``'2'`` (the paper),
    ``'tiny'`` (CPU tests and SynthBirds), or a dict with the keys
    ``stem_channels``, ``conv_channels``, ``conv_depths``,
    ``attn_channels``, ``attn_depths``, ``num_heads``.

    Outputs: with ``out_type='cls_token'`` (classification) a 1-tuple with
    the fused class token ``(B, attn_channels[1])``; with
    ``out_type='featmap'`` (detection/segmentation) the feature maps of
    ``out_indices`` (0..3 = stages 1..4), stage ``i`` being
    ``(B, C_i, H / 2**(i + 2), W / 2**(i + 2))`` (rounded up). Other input
    sizes than ``img_size`` work: the bias tables are resized on the fly.

    Args:
        arch (str | dict): architecture. Defaults to ``'0'``.
        img_size (int | tuple[int, int]): input size the bias tables are
            made for. Defaults to 224.
        in_channels (int): image channels. Defaults to 3.
        meta_dims (dict[str, int], optional): meta inputs. Defaults to None.
        meta_drop_prob (float): initial meta dropout. Defaults to 0.
        mlp_ratio (float): MBConv expansion and MLP ratio. Defaults to 4.
        drop_rate (float): dropout in attention stages. Defaults to 0.
        attn_drop_rate (float): attention dropout. Defaults to 0.
        drop_path_rate (float): stochastic depth, linear over blocks.
        out_type (str): ``'cls_token'`` or ``'featmap'``.
        out_indices (Sequence[int]): stages returned with ``'featmap'``.
            Defaults to ``(0, 1, 2, 3)``.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', ...)``.
    """

    arch_zoo = {
        '0':
        dict(
            stem_channels=64,
            conv_channels=(96, 192),
            conv_depths=(2, 3),
            attn_channels=(384, 768),
            attn_depths=(5, 2),
            num_heads=8),
        '1':
        dict(
            stem_channels=64,
            conv_channels=(96, 192),
            conv_depths=(2, 6),
            attn_channels=(384, 768),
            attn_depths=(14, 2),
            num_heads=8),
        '2':
        dict(
            stem_channels=128,
            conv_channels=(128, 256),
            conv_depths=(2, 6),
            attn_channels=(512, 1024),
            attn_depths=(14, 2),
            num_heads=8),
        'tiny':
        dict(
            stem_channels=16,
            conv_channels=(24, 32),
            conv_depths=(1, 1),
            attn_channels=(64, 96),
            attn_depths=(2, 1),
            num_heads=4),
    }
    OUT_TYPES = ('cls_token', 'featmap')

    def __init__(self,
                 arch: Union[str, dict] = '0',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 in_channels: int = 3,
                 meta_dims: Optional[Dict[str, int]] = None,
                 meta_drop_prob: float = 0.,
                 mlp_ratio: float = 4.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_type: str = 'cls_token',
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = self._arch(arch)
        if out_type not in self.OUT_TYPES:
            raise ConfigError(f'MetaFormer: out_type must be one of '
                              f'{self.OUT_TYPES}, got {out_type!r}.')
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(4) for i in out_indices):
            raise ConfigError('MetaFormer: out_indices must be a non-empty '
                              f'subset of 0..3 (stages 1..4), got '
                              f'{out_indices}.')
        self.out_type = out_type
        self.out_indices = out_indices
        self.img_size = (img_size, img_size) if isinstance(
            img_size, int) else tuple(img_size)
        self.meta_dims = dict(meta_dims or {})
        self.meta_drop_prob = float(meta_drop_prob)

        a = self.arch
        c0 = a['stem_channels']
        conv_ch, attn_ch = list(a['conv_channels']), list(a['attn_channels'])
        depths = list(a['conv_depths']) + list(a['attn_depths'])
        dpr = torch.linspace(
            0, drop_path_rate, sum(depths), device='cpu').tolist()
        self.channels = tuple(conv_ch + attn_ch)

        mid = 3 * (c0 // 4)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, mid, 3, 2, 1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True), nn.Conv2d(c0, c0, 3, 1, 1, bias=False))
        self.stem_norm = nn.BatchNorm2d(c0)
        self.stages = nn.ModuleList()
        in_ch, k = c0, 0
        for i in range(2):
            blocks = []
            for j in range(depths[i]):
                stride = 2 if (i == 1 and j == 0) else 1
                blocks.append(
                    MBConv(in_ch, conv_ch[i], stride, int(mlp_ratio),
                           dpr[k]))
                in_ch, k = conv_ch[i], k + 1
            self.stages.append(nn.Sequential(*blocks))
        for i in range(2):
            grid = (_down(self.img_size[0], 4 + i),
                    _down(self.img_size[1], 4 + i))
            self.stages.append(
                AttentionStage(in_ch, attn_ch[i], depths[2 + i],
                               a['num_heads'], grid, mlp_ratio,
                               dpr[k:k + depths[2 + i]], drop_rate,
                               attn_drop_rate))
            in_ch, k = attn_ch[i], k + depths[2 + i]

        self.cls_tokens = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, 1, c)) for c in attn_ch])
        self.meta_encoders = nn.ModuleList([
            nn.ModuleDict(
                {name: MetaEncoder(d, c)
                 for name, d in self.meta_dims.items()}) for c in attn_ch
        ])
        self.cls_norm3 = nn.LayerNorm(attn_ch[0])
        self.cls_proj = nn.Sequential(
            Mlp(attn_ch[0], attn_ch[0], attn_ch[1]), nn.LayerNorm(attn_ch[1]))
        self.cls_norm4 = nn.LayerNorm(attn_ch[1])
        self.cls_fuse = nn.Conv1d(2, 1, 1)
        self.out_norm = nn.LayerNorm(attn_ch[1])

    # ------------------------------------------------------------------
    def _arch(self, arch: Union[str, dict]) -> dict:
        keys = set(self.arch_zoo['0'])
        if isinstance(arch, str):
            if arch not in self.arch_zoo:
                raise ConfigError(f'MetaFormer: unknown arch {arch!r}; '
                                  f'choose one of {sorted(self.arch_zoo)} '
                                  'or give a dict.')
            return dict(self.arch_zoo[arch])
        if not isinstance(arch, dict) or set(arch) != keys:
            raise ConfigError(f'MetaFormer: a custom arch is a dict with '
                              f'exactly the keys {sorted(keys)}, got {arch}.')
        return dict(arch)

    def init_weights(self) -> None:
        """Truncated-normal linears/tokens/bias tables, Kaiming convs; then
        the ``Pretrained`` checkpoint of ``init_cfg``, if any (parameters it
        lacks, e.g. new meta encoders, keep this initialisation)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(
                    m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, RelPosAttention):
                trunc_normal_(m.rel_pos_bias_table, std=.02)
        for token in self.cls_tokens:
            trunc_normal_(token, std=.02)
        if self.init_cfg is not None and self.init_cfg.get(
                'type') == 'Pretrained':
            super().init_weights()
        self._is_init = True

    # ------------------------------------------------------------------
    def _check_meta(self, meta: Optional[Dict[str, Tensor]], batch: int,
                    ref: Tensor) -> Dict[str, Tensor]:
        """Meta as a dict of tensors (zeros where absent), dropout applied."""
        if not self.meta_dims:
            return {}
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise TypeError(
                'MetaFormer: meta must be a dict {name: Tensor} with keys '
                f'{list(self.meta_dims)}, got {type(meta).__name__}.')
        unknown = set(meta) - set(self.meta_dims)
        if unknown:
            raise KeyError(f'MetaFormer: meta keys {sorted(unknown)} are not '
                           f'in meta_dims {self.meta_dims}; add them to '
                           'meta_dims or drop them from the pipeline.')
        out = {}
        for name, dim in self.meta_dims.items():
            value = meta.get(name)
            if value is None:
                value = ref.new_zeros(batch, dim)
            if value.shape[0] != batch or value.shape[-1] != dim or \
                    value.dim() not in (2, 3):
                raise ValueError(
                    f'MetaFormer: meta["{name}"] must be (B, {dim}) or '
                    f'(B, L, {dim}) with B={batch}, got '
                    f'{tuple(value.shape)}.')
            out[name] = value.to(ref.dtype)
        k = int(batch * self.meta_drop_prob)
        if self.training and k > 0:
            keep = ref.new_ones(batch)
            keep[torch.randperm(batch, device=ref.device)[:k]] = 0
            out = {
                n: v * keep.view(-1, *([1] * (v.dim() - 1)))
                for n, v in out.items()
            }
        return out

    def _extra_tokens(self, stage: int, meta: Dict[str, Tensor],
                      batch: int) -> Tensor:
        tokens = [self.cls_tokens[stage].expand(batch, -1, -1)]
        for name, encoder in self.meta_encoders[stage].items():
            tokens.append(encoder(meta[name]))
        return torch.cat(tokens, dim=1)

    def forward(self,
                x: Tensor,
                meta: Optional[Dict[str, Tensor]] = None) -> Tuple[Tensor]:
        """Extract features.

        Args:
            x (Tensor): images ``(B, 3, H, W)``.
            meta (dict[str, Tensor], optional): ``{name: (B, D) or (B, L,
                D)}`` for the names of ``meta_dims``; missing → zeros.

        Returns:
            tuple[Tensor]: ``(fused class token (B, C4),)`` or the feature
            maps of ``out_indices`` (see the class docstring).
        """
        b = x.shape[0]
        meta = self._check_meta(meta, b, x)
        x = F.max_pool2d(F.relu(self.stem_norm(self.stem(x))), 3, 2, 1)
        maps: List[Tensor] = []
        x = self.stages[0](x)
        maps.append(x)
        x = self.stages[1](x)
        maps.append(x)
        cls = []
        for s in range(2):
            extra = self._extra_tokens(s, meta, b)
            e = extra.shape[1]
            tokens, (h, w) = self.stages[2 + s](x, extra)
            cls.append(tokens[:, 0])
            x = tokens[:, e:].transpose(1, 2).reshape(b, -1, h, w)
            maps.append(x)
        if self.out_type == 'featmap':
            return tuple(maps[i] for i in self.out_indices)
        cls3 = self.cls_proj(self.cls_norm3(cls[0]))
        cls4 = self.cls_norm4(cls[1])
        fused = self.cls_fuse(torch.stack([cls3, cls4], dim=1)).squeeze(1)
        return (self.out_norm(fused), )

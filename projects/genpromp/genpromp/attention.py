"""Capturing cross-attention of a diffusers UNet with attention processors.

Public signatures (stable)::

    AttentionStore(token_index=None)     # .active, .maps, .reset()
    CaptureCrossAttnProcessor(store, name, place)
    install_capture(unet, store) -> int  # via unet.set_attn_processor
    aggregate_maps(store, latent_hw, resolutions=(8, 16), num_steps=2)
        -> (B, h, w) Tensor

Every cross-attention layer (``attn2`` of the UNet's transformer blocks) gets
a :class:`CaptureCrossAttnProcessor`; self-attention keeps diffusers'
``AttnProcessor2_0``. While :attr:`AttentionStore.active` is False the
capture processor runs ``AttnProcessor2_0`` too (training pays nothing);
while it is True it computes ``softmax(q k^T * scale) v`` explicitly (the
same function) and stores the probabilities, averaged over heads, of the
columns in ``store.token_index`` (all tokens when ``None``).

:func:`aggregate_maps` turns the captured ``(N, h*w, K)`` probabilities of a
batch that stacks ``num_steps`` timesteps along the batch (``N = S * B``)
into maps as the paper: the class column, mean over timesteps, mean over
the layers of one (UNet part, resolution) group (``down``/``mid``/``up`` at
map height 8 or 16 for SD v1-4 at 512 px), groups upsampled (bicubic) to the
largest resolution and averaged with equal weights.
"""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from mmfg.utils.errors import ConfigError

__all__ = [
    'AttentionStore', 'CaptureCrossAttnProcessor', 'install_capture',
    'aggregate_maps'
]


class AttentionStore:
    """Head-averaged cross-attention probabilities of one UNet call.

    Args:
        token_index (Tensor | int | None): token columns to keep (``(K,)``
            or an int); ``None`` keeps all ``L`` tokens.

    Attributes:
        active (bool): capture on/off.
        maps (list[tuple[str, str, Tensor]]): ``(layer name, place, probs)``
            with ``probs (N, h*w, K)`` in call order.
    """

    def __init__(self, token_index=None) -> None:
        self.active = False
        self.token_index = token_index
        self.maps: List[Tuple[str, str, torch.Tensor]] = []

    def reset(self) -> None:
        """Drop the captured maps."""
        self.maps = []

    def add(self, name: str, place: str, probs: torch.Tensor) -> None:
        """Store head-averaged probabilities.

        Args:
            name (str): processor name.
            place (str): ``'down'``, ``'mid'`` or ``'up'``.
            probs (Tensor): ``(N, heads, h*w, L)`` attention probabilities.
        """
        probs = probs.mean(1)
        if self.token_index is not None:
            idx = torch.as_tensor(self.token_index, device=probs.device)
            probs = probs.index_select(-1, idx.reshape(-1))
        self.maps.append((name, place, probs))


class CaptureCrossAttnProcessor:
    """A diffusers attention processor that records cross-attention.

    Same output as ``AttnProcessor2_0`` (to floating-point rounding); see
    the module docstring.

    Args:
        store (AttentionStore): where the probabilities go.
        name (str): the processor's name in ``unet.attn_processors``.
        place (str): ``'down'``, ``'mid'`` or ``'up'``.
    """

    def __init__(self, store: AttentionStore, name: str, place: str) -> None:
        from diffusers.models.attention_processor import AttnProcessor2_0
        self.store = store
        self.name = name
        self.place = place
        self._sdpa = AttnProcessor2_0()

    def __call__(self,
                 attn,
                 hidden_states: torch.Tensor,
                 encoder_hidden_states: Optional[torch.Tensor] = None,
                 attention_mask: Optional[torch.Tensor] = None,
                 temb: Optional[torch.Tensor] = None,
                 *args,
                 **kwargs) -> torch.Tensor:
        """Attention of ``hidden_states (N, h*w, C)`` to the text.

        Args:
            attn (diffusers Attention): the layer.
            hidden_states (Tensor): ``(N, h*w, C)`` (or ``(N, C, h, w)``).
            encoder_hidden_states (Tensor, optional): ``(N, L, D)`` text.
            attention_mask (Tensor, optional): additive mask.
            temb (Tensor, optional): time embedding (spatial norm only).

        Returns:
            Tensor: same shape as ``hidden_states``.
        """
        if not self.store.active or encoder_hidden_states is None:
            return self._sdpa(attn, hidden_states, encoder_hidden_states,
                              attention_mask, temb, *args, **kwargs)
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            n, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(n, c, h * w).transpose(1, 2)
        n, length, _ = encoder_hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(
                attention_mask, length, n)
            attention_mask = attention_mask.view(n, attn.heads, -1,
                                                 attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(
                1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(
                encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(n, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(n, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(n, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        # (N, heads, h*w, L), the softmax in float32 as SDPA's math path
        scores = torch.matmul(query.float(),
                              key.float().transpose(-1, -2)) * attn.scale
        if attention_mask is not None:
            scores = scores + attention_mask.float()
        probs = scores.softmax(-1)
        self.store.add(self.name, self.place, probs)
        out = torch.matmul(probs.to(value.dtype), value)
        out = out.transpose(1, 2).reshape(n, -1, attn.heads * head_dim)
        out = attn.to_out[1](attn.to_out[0](out.to(query.dtype)))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(n, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install_capture(unet, store: AttentionStore) -> int:
    """Give every cross-attention layer of ``unet`` a capture processor.

    Uses ``unet.set_attn_processor`` (one processor per layer name); the
    self-attention layers get ``AttnProcessor2_0``.

    Args:
        unet (UNet2DConditionModel): the UNet.
        store (AttentionStore): the shared store.

    Returns:
        int: number of cross-attention layers hooked.
    """
    from diffusers.models.attention_processor import AttnProcessor2_0
    procs = {}
    count = 0
    for name in unet.attn_processors.keys():
        if name.endswith('attn2.processor'):
            # 'down_blocks.1...', 'mid_block...', 'up_blocks.0...'
            place = name.split('.')[0].split('_')[0]
            procs[name] = CaptureCrossAttnProcessor(store, name, place)
            count += 1
        else:
            procs[name] = AttnProcessor2_0()
    unet.set_attn_processor(procs)
    return count


def _layer_hw(tokens: int, latent_hw: Tuple[int, int]) -> Tuple[int, int]:
    lh, lw = latent_hw
    f = 1
    while f <= max(lh, lw):
        h, w = -(-lh // f), -(-lw // f)
        if h * w == tokens:
            return h, w
        f *= 2
    raise ValueError(f'aggregate_maps: a layer with {tokens} positions does '
                     f'not match the latent size {latent_hw}.')


def aggregate_maps(store: AttentionStore,
                   latent_hw: Tuple[int, int],
                   resolutions: Sequence[int] = (8, 16),
                   num_steps: int = 2,
                   column: int = 0) -> torch.Tensor:
    """Class-token maps from captured probabilities (multi-scale average).

    Args:
        store (AttentionStore): after one UNet call on ``num_steps * B``
            samples (timestep-major: the first ``B`` rows are step 0).
        latent_hw (tuple[int, int]): ``(H/f, W/f)`` latent size.
        resolutions (Sequence[int]): map heights of the layers to use.
        num_steps (int): timesteps stacked along the batch.
        column (int): which stored column (of ``token_index``) to read.

    Returns:
        Tensor: ``(B, h, w)`` maps at the largest selected resolution.

    Raises:
        ConfigError: no captured layer has one of ``resolutions``.
    """
    groups: Dict[Tuple[str, int], List[torch.Tensor]] = defaultdict(list)
    for _, place, probs in store.maps:
        h, w = _layer_hw(probs.shape[1], latent_hw)
        if h not in resolutions:
            continue
        m = probs[..., column].float().view(num_steps, -1, h, w).mean(0)
        groups[(place, h)].append(m)
    if not groups:
        found = sorted({_layer_hw(p.shape[1], latent_hw)[0]
                        for _, _, p in store.maps})
        raise ConfigError(
            f'GenPromp: no cross-attention layer at map heights '
            f'{list(resolutions)}; this UNet has {found} for a latent of '
            f'{tuple(latent_hw)}. Set model.attn_resolutions to some of '
            f'{found}.')
    size = max((g[0].shape[-2:] for g in groups.values()),
               key=lambda s: s[0] * s[1])
    out = 0
    for maps in groups.values():
        m = torch.stack(maps).mean(0)
        if tuple(m.shape[-2:]) != tuple(size):
            m = F.interpolate(
                m[:, None], size=tuple(size), mode='bicubic',
                align_corners=False)[:, 0]
        out = out + m
    return out / len(groups)

"""Attention-based multiple-instance pooling (Ilse et al., ICML 2018)."""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from mmfg.registry import MODELS

__all__ = ['AttentionMILPooling']


@MODELS.register_module()
class AttentionMILPooling(nn.Module):
    """Attention-MIL pooling of a bag of instances.

    Each instance ``h_n`` of a bag gets the score
    ``s_n = w^T (tanh(V h_n) * sigmoid(U h_n))`` (``gated=True``) or
    ``w^T tanh(V h_n)`` (``gated=False``); the weights are
    ``a = softmax_n(s)`` (so they sum to one over the bag) and the bag
    embedding is ``sum_n a_n v_n`` where ``v`` are the instances themselves
    or, when given, other per-instance values (e.g. the probabilities a
    region head predicts for each patch).

    Args:
        in_channels (int): ``D`` of the instances that score.
        hidden_channels (int): width of the attention MLP. Defaults to 128.
        gated (bool): gated attention. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: int = 128,
                 gated: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.gated = gated
        self.attention_v = nn.Linear(in_channels, hidden_channels)
        self.attention_u = nn.Linear(in_channels, hidden_channels) \
            if gated else None
        self.attention_w = nn.Linear(hidden_channels, 1)

    def scores(self, x: Tensor) -> Tensor:
        """Unnormalised attention scores ``(B, N)`` of instances
        ``x (B, N, D)``."""
        h = torch.tanh(self.attention_v(x))
        if self.attention_u is not None:
            h = h * torch.sigmoid(self.attention_u(x))
        return self.attention_w(h).squeeze(-1)

    def forward(self,
                x: Tensor,
                values: Optional[Tensor] = None,
                mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Pool each bag.

        Args:
            x (Tensor): ``(B, N, D)`` instances that are scored.
            values (Tensor, optional): ``(B, N, K)`` what is averaged;
                defaults to ``x``.
            mask (Tensor, optional): ``(B, N)`` bool, False for padding
                instances (weight 0).

        Returns:
            tuple[Tensor, Tensor]: pooled ``(B, K)`` (or ``(B, D)``) and the
            weights ``(B, N)`` (each row sums to one).
        """
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f'AttentionMILPooling: expected (B, N, {self.in_channels}) '
                f'instances, got {tuple(x.shape)}.')
        s = self.scores(x)
        if mask is not None:
            s = s.masked_fill(~mask, float('-inf'))
        weights = s.float().softmax(-1).to(x.dtype)
        values = x if values is None else values
        pooled = torch.einsum('bn,bnk->bk', weights.to(values.dtype), values)
        return pooled, weights

"""Attention layers of concept transformers (CT / CCT).

- :class:`SlotAttention`: slot attention (Locatello et al., 2020) used by
  Concept-Centric Transformers as the concept memory: ``K`` slots compete
  for the input tokens (softmax over *slots*), then each slot is updated
  by a GRU from the attention-weighted *mean* of the inputs.
- :class:`ConceptCrossAttention`: multi-head cross-attention in which the
  image tokens are the queries and the concepts the keys and values; it
  returns the attention weights (the explanation) beside the output.

Both are plain batched matmuls (no loop over slots, tokens or heads).
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ['SlotAttention', 'ConceptCrossAttention']


class SlotAttention(nn.Module):
    """Slot attention over a set of input tokens.

    One iteration, with ``q = W_q LN(slots)``, ``k = W_k LN(x) / sqrt(D)``,
    ``v = W_v LN(x)``::

        a[b, n, k] = softmax_k(k[b, n] . q[b, k])     # slots compete
        w[b, n, k] = (a + eps) / sum_n (a + eps)      # weighted mean
        slots[b, k] = GRU(sum_n w[b, n, k] v[b, n], slots[b, k])

    Slot initialisation: ``'gaussian'`` samples ``mu + exp(log_sigma) * N(0,
    1)`` (one ``mu``/``sigma`` shared by all slots, as in slot attention)
    while training and uses ``mu`` in eval mode, so explanations are
    deterministic; ``'learned'`` keeps one learned vector per slot.

    Args:
        num_slots (int): number of slots ``K``.
        dim (int): slot size ``D`` (also the input size unless
            ``input_dim``).
        input_dim (int, optional): input token size. Defaults to ``dim``.
        num_iters (int): iterations. Defaults to 1 (as CCT).
        init (str): ``'gaussian'`` or ``'learned'``.
        eps (float): added to the attention before the weighted mean.
    """

    def __init__(self,
                 num_slots: int,
                 dim: int,
                 input_dim: Optional[int] = None,
                 num_iters: int = 1,
                 init: str = 'gaussian',
                 eps: float = 1e-8) -> None:
        super().__init__()
        if init not in ('gaussian', 'learned'):
            raise ValueError(
                f"SlotAttention: init must be 'gaussian' or 'learned', got "
                f'{init!r}')
        if num_iters < 1:
            raise ValueError(f'SlotAttention: num_iters must be >= 1, got '
                             f'{num_iters}')
        input_dim = dim if input_dim is None else input_dim
        self.num_slots = num_slots
        self.dim = dim
        self.num_iters = num_iters
        self.init = init
        self.eps = eps
        if init == 'gaussian':
            self.slot_mu = nn.Parameter(torch.empty(1, 1, dim))
            self.slot_log_sigma = nn.Parameter(torch.empty(1, 1, dim))
            nn.init.xavier_uniform_(self.slot_mu)
            nn.init.xavier_uniform_(self.slot_log_sigma)
        else:
            self.slot_init = nn.Parameter(
                torch.randn(1, num_slots, dim) / math.sqrt(dim))
        self.norm_inputs = nn.LayerNorm(input_dim)
        self.norm_slots = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(input_dim, dim, bias=False)
        self.to_v = nn.Linear(input_dim, dim, bias=False)
        self.gru = nn.GRUCell(dim, dim)

    def initial_slots(self, batch: int, ref: Tensor) -> Tensor:
        """``(B, K, D)`` initial slots (noise only in training mode)."""
        if self.init == 'learned':
            return self.slot_init.expand(batch, -1, -1).to(ref.dtype)
        mu = self.slot_mu.expand(batch, self.num_slots, -1)
        if not self.training:
            return mu.to(ref.dtype)
        noise = torch.randn(
            batch, self.num_slots, self.dim, device=ref.device,
            dtype=ref.dtype)
        return mu + self.slot_log_sigma.exp() * noise

    def attention(self, slots: Tensor, k: Tensor) -> Tensor:
        """Attention of every input over the slots.

        Args:
            slots (Tensor): ``(B, K, D)`` current slots.
            k (Tensor): ``(B, N, D)`` scaled keys.

        Returns:
            Tensor: ``(B, N, K)``, each row sums to 1 over the slots.
        """
        q = self.to_q(self.norm_slots(slots))
        return torch.bmm(k, q.transpose(1, 2)).softmax(dim=-1)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Run the slot iterations.

        Args:
            x (Tensor): ``(B, N, C)`` input tokens.

        Returns:
            tuple: ``slots (B, K, D)`` and the last attention ``(B, N, K)``
            (normalised over slots).
        """
        B = x.shape[0]
        x = self.norm_inputs(x)
        k = self.to_k(x) * self.dim**-0.5
        v = self.to_v(x)
        slots = self.initial_slots(B, x)
        attn = None
        for _ in range(self.num_iters):  # a few iterations, not data
            attn = self.attention(slots, k)
            w = attn + self.eps
            w = w / w.sum(dim=1, keepdim=True)
            updates = torch.bmm(w.transpose(1, 2), v)  # (B, K, D)
            slots = self.gru(
                updates.reshape(-1, self.dim),
                slots.reshape(-1, self.dim)).view(B, self.num_slots, self.dim)
        return slots, attn


class ConceptCrossAttention(nn.Module):
    """Tokens attend to concepts; the output is projected to class logits.

    ``attn = softmax(q k^T / sqrt(d_head))`` per head with ``q = W_q x``
    (tokens), ``k, v = W_kv c`` (concepts); ``out = W_o concat_h(attn_h
    v_h)``.

    Args:
        dim (int): token and concept size ``C`` (divisible by ``num_heads``).
        num_heads (int): attention heads.
        out_dim (int, optional): output size (the number of classes in
            CCT). Defaults to ``dim``.
        attn_drop (float): dropout on the attention weights.
        proj_drop (float): dropout on the output.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int = 1,
                 out_dim: Optional[int] = None,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(
                f'ConceptCrossAttention: dim {dim} is not divisible by '
                f'num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, out_dim or dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, concepts: Tensor) -> Tuple[Tensor, Tensor]:
        """Cross-attention.

        Args:
            x (Tensor): ``(B, N, C)`` query tokens.
            concepts (Tensor): ``(B, K, C)`` or ``(1, K, C)`` (shared by the
                batch: keys and values are computed once).

        Returns:
            tuple: ``out (B, N, out_dim)`` and ``attn (B, H, N, K)`` (before
            dropout; rows sum to 1 over the concepts).
        """
        B, N, C = x.shape
        K = concepts.shape[1]
        H, d = self.num_heads, self.head_dim
        q = self.q(x).view(B, N, H, d).transpose(1, 2)  # (B, H, N, d)
        kv = self.kv(concepts).view(concepts.shape[0], K, 2, H, d)
        k, v = kv.permute(2, 0, 3, 1, 4)  # each (B|1, H, K, d)
        attn = torch.matmul(q * self.scale, k.transpose(-2, -1)).softmax(-1)
        out = torch.matmul(self.attn_drop(attn), v)  # (B, H, N, d)
        out = out.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out)), attn

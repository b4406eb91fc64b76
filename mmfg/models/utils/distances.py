"""Distances between latent patches / embeddings and prototypes.

One home for every distance mmfg uses (prototype heads, losses, projection,
metrics). All are computed by matrix products: ``||x||^2 - 2 x.p + ||p||^2``
for L2, normalised dot products for cosine; never an ``N x M x D`` broadcast
and never a ones-convolution.

Mixed precision: each is computed in (at least) float32 with autocast off
(:func:`float32_distance`), whatever autocast is active; the expanded L2
``|x|^2 + |p|^2 - 2 x.p`` cancels catastrophically in bf16 / fp16 (16-d
points of norm ~12 at squared distances 0.02-0.04 came out as 0 or 0.28 in
bf16, 0 to 0.17 in fp16), and fp16 flushes the small epsilons to zero.
"""
import functools
from typing import Callable, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'pairwise_squared_l2', 'pairwise_l2', 'pairwise_cosine_similarity',
    'squared_l2_map', 'l2_map', 'min_squared_l2', 'cosine_similarity_map',
    'log_similarity', 'snr_distance', 'pairwise_distance', 'DISTANCES',
    'float32_distance'
]


def float32_distance(fn: Callable) -> Callable:
    """Decorator: run ``fn`` with autocast off on the device of its first
    (tensor) argument, bf16 / fp16 tensor arguments cast to float32.

    Traces as one graph under ``torch.compile`` (autocast regions are
    captured by dynamo).
    """

    @functools.wraps(fn)
    def wrapper(x: Tensor, *args, **kwargs):
        with torch.autocast(device_type=x.device.type, enabled=False):
            args = [
                a.float() if isinstance(a, Tensor)
                and a.dtype in (torch.float16, torch.bfloat16) else a
                for a in (x, ) + args
            ]
            return fn(*args, **kwargs)

    return wrapper


@float32_distance
def pairwise_squared_l2(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances between rows.

    Args:
        a (Tensor): ``(N, D)``.
        b (Tensor): ``(M, D)``.

    Returns:
        Tensor: ``(N, M)``, clamped at 0 against rounding.
    """
    a2 = a.pow(2).sum(-1, keepdim=True)  # (N, 1)
    b2 = b.pow(2).sum(-1)  # (M,)
    d = torch.addmm(b2.unsqueeze(0) + a2, a, b.t(), alpha=-2.0)
    return d.clamp_min(0)


def pairwise_l2(a: Tensor, b: Tensor, eps: float = 1e-14) -> Tensor:
    """Euclidean distances ``sqrt(|d^2| + eps)`` between rows: ``(N, M)``."""
    return (pairwise_squared_l2(a, b) + eps).sqrt()


@float32_distance
def pairwise_cosine_similarity(a: Tensor, b: Tensor,
                               eps: float = 1e-8) -> Tensor:
    """Cosine similarity between rows of ``a (N, D)`` and ``b (M, D)``."""
    return F.normalize(a, dim=-1, eps=eps) @ F.normalize(
        b, dim=-1, eps=eps).t()


@float32_distance
def squared_l2_map(x: Tensor, prototypes: Tensor) -> Tensor:
    """Squared L2 distance of every latent patch to every prototype.

    Args:
        x (Tensor): feature map ``(B, D, H, W)``.
        prototypes (Tensor): ``(P, D)`` (1x1 prototypes).

    Returns:
        Tensor: ``(B, P, H, W)``, clamped at 0.
    """
    x2 = x.pow(2).sum(1, keepdim=True)  # (B, 1, H, W)
    p2 = prototypes.pow(2).sum(1).view(1, -1, 1, 1)  # (1, P, 1, 1)
    xp = torch.einsum('bdhw,pd->bphw', x, prototypes)
    return (x2 - 2 * xp + p2).clamp_min(0)


def l2_map(x: Tensor, prototypes: Tensor, eps: float = 1e-14) -> Tensor:
    """L2 distance map ``sqrt(|d^2| + eps)``: ``(B, P, H, W)`` (ProtoTree)."""
    return (squared_l2_map(x, prototypes) + eps).sqrt()


@float32_distance
def min_squared_l2(x: Tensor, prototypes: Tensor) -> Tuple[Tensor, Tensor]:
    """Smallest squared L2 distance of each prototype to any latent patch.

    Equal (up to rounding) to
    ``squared_l2_map(x, prototypes).flatten(2).min(-1)`` but much cheaper to
    differentiate: the full ``(B, H*W, P)`` distance map is built without
    autograd only to find the nearest patch; the differentiable value is
    ``||x_at||^2 - 2 x_at.p + ||p||^2`` at that patch, so the backward pass
    is one scatter and the two products of the matmul (the gradient reaches
    only the nearest patch, as for a min-pool; among tied patches, the one
    ``torch.min`` reports).

    Args:
        x (Tensor): feature map ``(B, D, H, W)``.
        prototypes (Tensor): ``(P, D)``.

    Returns:
        tuple[Tensor, Tensor]: distances ``(B, P)`` (clamped at 0) and the
        flat position ``(B, P)`` (int64, ``h * W + w``) of the nearest patch.
    """
    B, D = x.shape[:2]
    P = prototypes.shape[0]
    # patches as rows: one (B*N, D) @ (D, P) product, no batched copies
    rows = x.flatten(2).transpose(1, 2).reshape(-1, D)  # (B*N, D)
    N = rows.shape[0] // max(B, 1)
    xp = (rows @ prototypes.t()).view(B, N, P)
    x2 = rows.pow(2).sum(1).view(B, N)
    p2 = prototypes.pow(2).sum(1)  # (P,)
    with torch.no_grad():
        # ||p||^2 does not depend on the patch: argmin of ||x||^2 - 2 x.p
        idx = torch.add(x2.unsqueeze(2), xp, alpha=-2.0).min(1).indices
    xp_min = xp.gather(1, idx.unsqueeze(1)).squeeze(1)  # (B, P)
    d = (x2.gather(1, idx) - 2 * xp_min + p2).clamp_min(0)
    return d, idx


@float32_distance
def cosine_similarity_map(x: Tensor, prototypes: Tensor,
                          eps: float = 1e-8) -> Tensor:
    """Cosine similarity of every latent patch to every prototype.

    Args:
        x (Tensor): ``(B, D, H, W)``.
        prototypes (Tensor): ``(P, D)``.

    Returns:
        Tensor: ``(B, P, H, W)`` in ``[-1, 1]``.
    """
    xn = F.normalize(x, dim=1, eps=eps)
    pn = F.normalize(prototypes, dim=1, eps=eps)
    return torch.einsum('bdhw,pd->bphw', xn, pn)


@float32_distance
def log_similarity(d: Tensor, eps: float = 1e-4) -> Tensor:
    """ProtoPNet's similarity ``log((d + 1) / (d + eps))`` of a distance."""
    return torch.log((d + 1) / (d + eps))


@float32_distance
def snr_distance(a: Tensor, b: Tensor, eps: float = 1e-12) -> Tensor:
    """Signal-to-noise-ratio distance of DSML (Yuan et al., CVPR 2019).

    ``d(a_i, b_j) = var(b_j - a_i) / var(a_i)``: the anchor ``a_i`` is the
    signal, the difference the noise. With ``x~`` the row ``x`` minus its
    mean, ``var(y - x) = (|x~|^2 + |y~|^2 - 2 x~.y~) / (D - 1)``, so the whole
    matrix is ``|a~_i - b~_j|^2 / |a~_i|^2`` (the ``D - 1`` cancels): one
    matmul on centred rows, never an ``N x M x D`` tensor. Not symmetric.

    Args:
        a (Tensor): anchors (signal) ``(N, D)``, ``D >= 2``.
        b (Tensor): ``(M, D)``.
        eps (float): floor of the anchor variance.

    Returns:
        Tensor: ``(N, M)``, ``>= 0``.
    """
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    a2 = a.pow(2).sum(-1, keepdim=True).clamp_min(eps)  # (N, 1)
    return pairwise_squared_l2(a, b) / a2


#: Names accepted by :func:`pairwise_distance` (losses, heads, metrics).
DISTANCES = ('l2', 'squared_l2', 'cosine', 'snr')


def pairwise_distance(a: Tensor, b: Tensor, distance: str = 'l2') -> Tensor:
    """Distance matrix by name; smaller is closer for every name.

    Args:
        a (Tensor): ``(N, D)`` (for ``'snr'``: the anchors / queries).
        b (Tensor): ``(M, D)``.
        distance (str): ``'l2'``, ``'squared_l2'``, ``'cosine'``
            (``1 - cos``) or ``'snr'`` (:func:`snr_distance`).

    Returns:
        Tensor: ``(N, M)``.
    """
    if distance == 'l2':
        return pairwise_l2(a, b)
    if distance == 'squared_l2':
        return pairwise_squared_l2(a, b)
    if distance == 'cosine':
        return 1 - pairwise_cosine_similarity(a, b)
    if distance == 'snr':
        return snr_distance(a, b)
    raise ValueError(f'distance must be one of {DISTANCES}, got {distance!r}.')

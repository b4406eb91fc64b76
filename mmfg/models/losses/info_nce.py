"""InfoNCE (CLIP-style) contrastive loss between paired embeddings."""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmfg.models.utils.distances import pairwise_cosine_similarity
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = ['InfoNCELoss', 'info_nce']


def info_nce(a: Tensor,
             b: Tensor,
             temperature: float | Tensor = 0.07,
             symmetric: bool = True) -> Tensor:
    """InfoNCE of row-paired embeddings: row ``i`` of ``a`` matches row
    ``i`` of ``b``, every other row of the batch is a negative.

    ``logits = cos(a_i, b_j) / τ``; the loss is the cross-entropy of the
    rows against the diagonal (``a → b``), averaged with that of the columns
    (``b → a``) when ``symmetric``.

    Args:
        a (Tensor): ``(N, D)`` embeddings (e.g. ground class tokens).
        b (Tensor): ``(N, D)`` embeddings (e.g. satellite class tokens).
        temperature (float | Tensor): τ > 0.
        symmetric (bool): average both directions. Defaults to True.

    Returns:
        Tensor: scalar loss.
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError('info_nce: a and b must both be (N, D), got '
                         f'{tuple(a.shape)} and {tuple(b.shape)}.')
    logits = pairwise_cosine_similarity(a, b) / temperature
    target = torch.arange(a.shape[0], device=a.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.t(), target))
    return loss


@MODELS.register_module()
class InfoNCELoss(nn.Module):
    """Symmetric InfoNCE between paired embeddings (see :func:`info_nce`).

    Args:
        temperature (float): τ (initial value when learnable). Defaults to
            0.07.
        learnable_temperature (bool): learn ``log(1/τ)`` (CLIP), clamped so
            that ``1/τ <= 100``. Defaults to False.
        symmetric (bool): average ``a → b`` and ``b → a``. Defaults to True.
        loss_weight (float): multiplier. Defaults to 1.
    """

    def __init__(self,
                 temperature: float = 0.07,
                 learnable_temperature: bool = False,
                 symmetric: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ConfigError('InfoNCELoss: temperature must be > 0, got '
                              f'{temperature}.')
        self.symmetric = symmetric
        self.loss_weight = loss_weight
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer('log_scale', log_scale, persistent=False)

    @property
    def temperature(self) -> Tensor:
        """Current τ (a 0-d tensor)."""
        return torch.exp(-self.log_scale.clamp(max=math.log(100.0)))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Args: a, b (Tensor): ``(N, D)`` paired embeddings.

        Returns:
            Tensor: the weighted scalar loss.
        """
        return self.loss_weight * info_nce(a, b, self.temperature,
                                           self.symmetric)

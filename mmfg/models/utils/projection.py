"""Nearest-latent-patch search for prototype push / projection.

Shared by ProtoPNet's push and ProtoTree's projection: stream the push
dataloader's feature maps through :class:`PatchProjector`, which keeps for
every prototype the closest latent patch among images of an *allowed* class
(its own class for ProtoPNet; the classes of the leaves below a node for
ProtoTree). Everything stays on the device (no host sync per batch), ties are
broken by the smallest global image index, then the smallest position, so the
answer does not depend on batch order or on the number of DDP ranks.
"""
from typing import Dict, Optional

import torch
from torch import Tensor

from .distances import cosine_similarity_map, squared_l2_map

__all__ = ['PatchProjector']


class PatchProjector:
    """Track the nearest allowed latent patch of each prototype.

    Args:
        prototypes (Tensor): ``(P, D)`` prototype vectors.
        allowed (Tensor, optional): ``(P, C)`` bool, ``allowed[p, c]`` says
            whether images of class ``c`` may supply prototype ``p``'s patch.
            None allows every class.
        metric (str): ``'squared_l2'`` (smaller is closer) or ``'cosine'``
            (larger is closer; stored internally as ``-similarity``).
    """

    def __init__(self,
                 prototypes: Tensor,
                 allowed: Optional[Tensor] = None,
                 metric: str = 'squared_l2') -> None:
        if metric not in ('squared_l2', 'cosine'):
            raise ValueError(f'metric must be squared_l2 or cosine, '
                             f'got {metric!r}')
        self.prototypes = prototypes.detach()
        self.allowed = allowed
        self.metric = metric
        P, D = prototypes.shape
        dev = prototypes.device
        self.best_dist = torch.full((P, ), float('inf'), device=dev)
        self.best_vec = torch.zeros(P, D, device=dev,
                                    dtype=prototypes.dtype)
        self.best_img = torch.full((P, ), -1, dtype=torch.long, device=dev)
        self.best_pos = torch.full((P, ), -1, dtype=torch.long, device=dev)
        self.map_hw = (0, 0)

    def _dist(self, feats: Tensor) -> Tensor:
        protos = self.prototypes.to(feats.dtype)
        if self.metric == 'squared_l2':
            return squared_l2_map(feats, protos)
        return -cosine_similarity_map(feats, protos)

    @torch.no_grad()
    def update(self, feats: Tensor, labels: Tensor, img_idx: Tensor) -> None:
        """Consider one batch of latent maps.

        Args:
            feats (Tensor): ``(B, D, H, W)`` latent maps (after the add-on).
            labels (Tensor): ``(B,)`` class indices.
            img_idx (Tensor): ``(B,)`` global dataset indices of the images.
        """
        B, D, H, W = feats.shape
        self.map_hw = (H, W)
        d = self._dist(feats).float()  # (B, P, H, W)
        P = d.shape[1]
        if self.allowed is not None:
            ok = self.allowed[:, labels.long()].t()  # (B, P)
            d = d.masked_fill(~ok[:, :, None, None], float('inf'))
        # (P, B*H*W): row p holds every patch of the batch.
        flat = d.permute(1, 0, 2, 3).reshape(P, B * H * W)
        vals, arg = flat.min(dim=1)  # first minimum: smallest b, then pos
        b = arg // (H * W)
        pos = arg % (H * W)
        gidx = img_idx.to(b.device).long()[b]
        vec = feats.flatten(2)[b, :, pos].to(self.best_vec.dtype)  # (P, D)
        better = (vals < self.best_dist) | ((vals == self.best_dist) &
                                            torch.isfinite(vals) &
                                            ((gidx < self.best_img) |
                                             (self.best_img < 0)))
        self.best_dist = torch.where(better, vals, self.best_dist)
        self.best_img = torch.where(better, gidx, self.best_img)
        self.best_pos = torch.where(better, pos, self.best_pos)
        self.best_vec = torch.where(better[:, None], vec, self.best_vec)

    @torch.no_grad()
    def merge_distributed(self) -> None:
        """Agree on the global nearest patch across DDP ranks (no-op when
        not distributed). Ties go to the smallest global image index."""
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()) or \
                dist.get_world_size() == 1:
            return
        from mmengine.dist import all_gather
        dists = torch.stack(all_gather(self.best_dist))  # (R, P)
        imgs = torch.stack(all_gather(self.best_img))
        poss = torch.stack(all_gather(self.best_pos))
        vecs = torch.stack(all_gather(self.best_vec))  # (R, P, D)
        big = torch.iinfo(torch.long).max
        key_img = torch.where(imgs < 0, torch.full_like(imgs, big), imgs)
        best = dists.min(0).values
        cand = (dists == best[None]) & torch.isfinite(dists)
        key = torch.where(cand, key_img, torch.full_like(key_img, big))
        r = key.argmin(0)  # (P,)
        ar = torch.arange(r.numel(), device=r.device)
        self.best_dist = dists[r, ar]
        self.best_img = imgs[r, ar]
        self.best_pos = poss[r, ar]
        self.best_vec = vecs[r, ar]

    def result(self) -> Dict[str, Tensor]:
        """The search result.

        Returns:
            dict: ``dist (P,)`` (for cosine: the similarity), ``vec (P, D)``,
            ``img_idx (P,)`` (-1 where no allowed image was seen),
            ``pos (P,)`` flat position, ``h``/``w`` (P,) map coordinates.
        """
        W = max(self.map_hw[1], 1)
        dist = self.best_dist if self.metric == 'squared_l2' \
            else -self.best_dist
        return dict(
            dist=dist,
            vec=self.best_vec,
            img_idx=self.best_img,
            pos=self.best_pos,
            h=torch.where(self.best_pos >= 0, self.best_pos // W,
                          self.best_pos),
            w=torch.where(self.best_pos >= 0, self.best_pos % W,
                          self.best_pos))

"""Nearest-latent-patch search for prototype push / projection.

Shared by ProtoPNet's push and ProtoTree's projection: stream the push
dataloader's feature maps through :class:`PatchProjector`, which keeps for
every prototype the closest latent patch among images of an *allowed* class
(its own class for ProtoPNet; the classes of the leaves below a node for
ProtoTree). Everything stays on the device (no host sync per batch), ties are
broken by the smallest global image index, then the smallest position, so the
answer does not depend on batch order or on the number of DDP ranks.

With ``keep_maps=True`` the projector also keeps, for every prototype, the
whole distance map of the image that supplied its patch (what push needs for
the high-activation box), and :class:`NearestImagesTracker` keeps the ``k``
nearest *images* (one patch each) of every prototype (what ProtoPNet's
pruning needs). Both merge across DDP ranks.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from .distances import cosine_similarity_map, squared_l2_map

__all__ = ['PatchProjector', 'NearestImagesTracker', 'random_patch_keys']

_MASK62 = (1 << 62) - 1


def _mix(z: Tensor) -> Tensor:
    """One xorshift-multiply round on non-negative int64 (kept < 2**62,
    so the arithmetic is identical on every device)."""
    z = z & _MASK62
    z = (z ^ (z >> 31)) * 0x2545F491
    z = z & _MASK62
    z = (z ^ (z >> 29)) * 0x4F6CDD1D
    return z & _MASK62


def random_patch_keys(img_idx: Tensor, hw: Tuple[int, int],
                      num_prototypes: int,
                      seed: int = 0) -> Tensor:
    """Deterministic pseudo-random keys of (image, position, prototype).

    Args:
        img_idx (Tensor): ``(B,)`` global dataset indices.
        hw (tuple): ``(H, W)`` of the latent map.
        num_prototypes (int): ``P``.
        seed (int): changes every key.

    Returns:
        Tensor: ``(B, P, H, W)`` float32 in ``[0, 1)``; a function of the
        arguments only (not of the batch composition or the device).
    """
    H, W = int(hw[0]), int(hw[1])
    dev = img_idx.device
    patch = img_idx.long()[:, None] * (H * W) + torch.arange(
        H * W, device=dev)[None]  # (B, HW) global patch id
    proto = torch.arange(num_prototypes, device=dev)
    z = _mix(patch[:, None, :] + (int(seed) + 1) * 0x9E3779B1)
    z = _mix(z + _mix(proto[None, :, None] + 0x632BE5AB))
    return ((z >> 38).float() / float(1 << 24)).view(
        img_idx.shape[0], num_prototypes, H, W)


class PatchProjector:
    """Track the nearest allowed latent patch of each prototype.

    Args:
        prototypes (Tensor): ``(P, D)`` prototype vectors.
        allowed (Tensor, optional): ``(P, C)`` bool, ``allowed[p, c]`` says
            whether images of class ``c`` may supply prototype ``p``'s patch.
            None allows every class.
        metric (str): ``'squared_l2'`` (smaller is closer), ``'cosine'``
            (larger is closer; stored internally as ``-similarity``) or
            ``'random'``: every (image, position, prototype) gets a
            pseudo-random key hashed from the global image index, the
            position, the prototype and ``seed``, so the "nearest" patch is
            a uniform random allowed patch that does not depend on batching
            or on the number of DDP ranks (data-driven initialisation).
        keep_maps (bool): also keep ``best_map (P, H, W)``: the distance map
            (for cosine: ``-similarity``) of each prototype on the image that
            supplied its patch. Defaults to False.
    """

    def __init__(self,
                 prototypes: Tensor,
                 allowed: Optional[Tensor] = None,
                 metric: str = 'squared_l2',
                 keep_maps: bool = False,
                 seed: int = 0) -> None:
        if metric not in ('squared_l2', 'cosine', 'random'):
            raise ValueError(f'metric must be squared_l2, cosine or random, '
                             f'got {metric!r}')
        self.seed = int(seed)
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
        self.keep_maps = keep_maps
        self.best_map: Optional[Tensor] = None
        self.map_hw = (0, 0)

    def _dist(self, feats: Tensor, img_idx: Tensor) -> Tensor:
        if self.metric == 'random':
            return random_patch_keys(img_idx, feats.shape[-2:],
                                     self.prototypes.shape[0], self.seed)
        protos = self.prototypes.to(feats.dtype)
        if self.metric == 'squared_l2':
            return squared_l2_map(feats, protos)
        return -cosine_similarity_map(feats, protos)

    @torch.no_grad()
    def update(self,
               feats: Tensor,
               labels: Tensor,
               img_idx: Tensor,
               patch_mask: Optional[Tensor] = None) -> None:
        """Consider one batch of latent maps.

        Args:
            feats (Tensor): ``(B, D, H, W)`` latent maps (after the add-on).
            labels (Tensor): ``(B,)`` class indices.
            img_idx (Tensor): ``(B,)`` global dataset indices of the images.
            patch_mask (Tensor, optional): ``(B, H, W)`` bool, the patches
                that may be chosen (None: all).
        """
        B, D, H, W = feats.shape
        self.map_hw = (H, W)
        d = self._dist(feats, img_idx).float()  # (B, P, H, W)
        P = d.shape[1]
        if self.allowed is not None:
            ok = self.allowed[:, labels.long()].t()  # (B, P)
            d = d.masked_fill(~ok[:, :, None, None], float('inf'))
        if patch_mask is not None:
            d = d.masked_fill(~patch_mask.bool()[:, None], float('inf'))
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
        if self.keep_maps:
            ar = torch.arange(P, device=d.device)
            maps = d[b, ar]  # (P, H, W): each prototype on its best image
            if self.best_map is None or self.best_map.shape[1:] != (H, W):
                self.best_map = torch.full_like(maps, float('inf'))
            self.best_map = torch.where(better[:, None, None], maps,
                                        self.best_map)

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
        if self.keep_maps and self.best_map is not None:
            maps = torch.stack(all_gather(self.best_map))  # (R, P, H, W)
            self.best_map = maps[r, ar]

    def result(self) -> Dict[str, Tensor]:
        """The search result.

        Returns:
            dict: ``dist (P,)`` (for cosine: the similarity), ``vec (P, D)``,
            ``img_idx (P,)`` (-1 where no allowed image was seen),
            ``pos (P,)`` flat position, ``h``/``w`` (P,) map coordinates,
            and with ``keep_maps`` ``map (P, H, W)`` (distances; for cosine
            the similarities).
        """
        W = max(self.map_hw[1], 1)
        dist = -self.best_dist if self.metric == 'cosine' \
            else self.best_dist
        out = dict(
            dist=dist,
            vec=self.best_vec,
            img_idx=self.best_img,
            pos=self.best_pos,
            h=torch.where(self.best_pos >= 0, self.best_pos // W,
                          self.best_pos),
            w=torch.where(self.best_pos >= 0, self.best_pos % W,
                          self.best_pos))
        if self.keep_maps and self.best_map is not None:
            out['map'] = -self.best_map if self.metric == 'cosine' \
                else self.best_map
        return out


def _lexsort_rows(primary: Tensor, secondary: Tensor) -> Tensor:
    """Row-wise order by ``primary`` then ``secondary`` (both ``(P, M)``)."""
    o1 = secondary.argsort(dim=1, stable=True)
    p1 = primary.gather(1, o1)
    o2 = p1.argsort(dim=1, stable=True)
    return o1.gather(1, o2)


def _topk_unique(dist: Tensor, idx: Tensor, label: Tensor,
                 k: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Per row the ``k`` smallest ``dist`` with distinct ``idx``.

    Ties go to the smallest index; a duplicated index (DDP sampler padding,
    or an image seen by two ranks) keeps its smallest distance. Empty slots
    carry ``dist=inf`` and ``idx=-1``.
    """
    big = torch.iinfo(torch.long).max
    key_idx = torch.where(idx < 0, torch.full_like(idx, big), idx)
    # drop duplicates: order by (idx, dist), keep the first of each run
    o = _lexsort_rows(key_idx, dist)
    d_s, i_s, l_s = dist.gather(1, o), key_idx.gather(1, o), \
        label.gather(1, o)
    dup = torch.zeros_like(i_s, dtype=torch.bool)
    dup[:, 1:] = i_s[:, 1:] == i_s[:, :-1]
    d_s = d_s.masked_fill(dup | (i_s == big), float('inf'))
    # now the k best by (dist, idx)
    o = _lexsort_rows(d_s, i_s)[:, :k]
    d_k, i_k, l_k = d_s.gather(1, o), i_s.gather(1, o), l_s.gather(1, o)
    empty = ~torch.isfinite(d_k)
    return d_k, i_k.masked_fill(empty, -1), l_k.masked_fill(empty, -1)


class NearestImagesTracker:
    """The ``k`` nearest images of every prototype (one patch per image).

    Streams per-image minimum distances (``(B, P)``, e.g. a prototype
    layer's min-pooled distances) and keeps, for every prototype, the ``k``
    closest images with their labels: ProtoPNet's pruning criterion ("fewer
    than ``threshold`` of the ``k`` nearest patches come from the
    prototype's class"). Stays on the device, ties go to the smallest image
    index, so the result does not depend on batch order or DDP ranks.

    Args:
        num_prototypes (int): ``P``.
        k (int): neighbours kept per prototype.
        device (torch.device | str): where the state lives.
    """

    def __init__(self, num_prototypes: int, k: int,
                 device: torch.device = 'cpu') -> None:
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        self.k = k
        self.dist = torch.full((num_prototypes, k), float('inf'),
                               device=device)
        self.img_idx = torch.full((num_prototypes, k), -1, dtype=torch.long,
                                  device=device)
        self.label = torch.full((num_prototypes, k), -1, dtype=torch.long,
                                device=device)

    @torch.no_grad()
    def update(self, min_dist: Tensor, labels: Tensor,
               img_idx: Tensor) -> None:
        """Consider one batch.

        Args:
            min_dist (Tensor): ``(B, P)`` distance of each image's closest
                patch to each prototype (for similarities pass ``-sim``).
            labels (Tensor): ``(B,)`` class indices.
            img_idx (Tensor): ``(B,)`` global dataset indices.
        """
        B, P = min_dist.shape
        dev = self.dist.device
        d = torch.cat([self.dist, min_dist.t().float().to(dev)], 1)
        i = torch.cat(
            [self.img_idx,
             img_idx.to(dev).long()[None].expand(P, B)], 1)
        lab = torch.cat(
            [self.label, labels.to(dev).long()[None].expand(P, B)], 1)
        self.dist, self.img_idx, self.label = _topk_unique(d, i, lab, self.k)

    @torch.no_grad()
    def merge_distributed(self) -> None:
        """Merge the neighbours found by all DDP ranks (no-op otherwise)."""
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()) or \
                dist.get_world_size() == 1:
            return
        from mmengine.dist import all_gather
        d = torch.cat(all_gather(self.dist), 1)
        i = torch.cat(all_gather(self.img_idx), 1)
        lab = torch.cat(all_gather(self.label), 1)
        self.dist, self.img_idx, self.label = _topk_unique(d, i, lab, self.k)

    def result(self) -> Dict[str, Tensor]:
        """``dist (P, k)``, ``img_idx (P, k)``, ``label (P, k)`` (nearest
        first; ``-1``/``inf`` where fewer than ``k`` images were seen)."""
        return dict(dist=self.dist, img_idx=self.img_idx, label=self.label)

"""Batch-composition samplers for metric learning.

Signature (stable)::

    MPerClassSampler(dataset, m=4, batch_size=32, seed=None, length=None)

Pair and triplet losses need several images of a class in a batch; the
``MPerClassSampler`` yields batches made of ``batch_size // m`` distinct
classes with ``m`` images each. Use it with the same ``batch_size`` as the
dataloader::

    train_dataloader = dict(
        batch_size=32,
        sampler=dict(type='MPerClassSampler', m=4, batch_size=32),
        dataset=dict(type='CUB', class_split='first', ...))
"""
from typing import Iterator, Optional, Sized

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmfg.registry import DATA_SAMPLERS
from mmfg.utils.errors import ConfigError

__all__ = ['MPerClassSampler']


def _dataset_labels(dataset: Sized) -> np.ndarray:
    if hasattr(dataset, 'get_gt_labels'):
        return np.asarray(dataset.get_gt_labels()).reshape(-1)
    if hasattr(dataset, 'get_cat_ids'):
        return np.asarray(
            [dataset.get_cat_ids(i)[0] for i in range(len(dataset))])
    raise ConfigError(
        f'MPerClassSampler: {type(dataset).__name__} has neither '
        'get_gt_labels() nor get_cat_ids(); use a labelled MMPretrain-style '
        'dataset.')


@DATA_SAMPLERS.register_module()
class MPerClassSampler(Sampler):
    """``m`` images of each of ``batch_size // m`` classes per batch.

    Every epoch draws, from ``seed + epoch``, the batches of all ranks
    together: each batch takes ``batch_size // m`` distinct classes at
    random, and each class hands out its images in a fresh random order,
    cycling (with repeats) when it is drawn more often than its image count
    allows (a class with fewer than ``m`` images repeats images within a
    batch). Rank ``r`` of ``w`` gets batches ``r, r + w, ...``: disjoint
    batches, the same on every run, the same union whatever the number of
    ranks divides it.

    Args:
        dataset (Sized): labelled dataset (``get_gt_labels()``).
        m (int): images per class in a batch. Defaults to 4.
        batch_size (int): the dataloader's batch size (per rank); a
            multiple of ``m``. Defaults to 32.
        seed (int, optional): base seed, synchronised across ranks when
            None.
        length (int, optional): images per epoch over all ranks. Defaults
            to ``len(dataset)``. Rounded down to whole batches of every
            rank (at least one each).
    """

    def __init__(self,
                 dataset: Sized,
                 m: int = 4,
                 batch_size: int = 32,
                 seed: Optional[int] = None,
                 length: Optional[int] = None) -> None:
        if m < 1 or batch_size < m or batch_size % m:
            raise ConfigError(
                f'MPerClassSampler: batch_size ({batch_size}) must be a '
                f'positive multiple of m ({m}); set both in the sampler '
                'config, batch_size equal to the dataloader batch_size.')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.m = int(m)
        self.batch_size = int(batch_size)
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        labels = _dataset_labels(dataset)
        classes, inverse = np.unique(labels, return_inverse=True)
        self.classes_per_batch = self.batch_size // self.m
        if self.classes_per_batch > len(classes):
            raise ConfigError(
                f'MPerClassSampler: batch_size // m = '
                f'{self.classes_per_batch} classes per batch, but the '
                f'dataset has only {len(classes)}; lower batch_size or '
                'raise m.')
        order = np.argsort(inverse, kind='stable')
        counts = np.bincount(inverse, minlength=len(classes))
        #: dataset indices of each class
        self.class_indices = [
            torch.from_numpy(idx.copy())
            for idx in np.split(order, np.cumsum(counts)[:-1])
        ]
        total = len(dataset) if length is None else int(length)
        self.num_batches = max(1, total // (self.batch_size * self.world_size))

    def _all_batches(self) -> torch.Tensor:
        """``(num_batches * world_size, batch_size)`` indices of the epoch
        (all ranks)."""
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        num_cls = len(self.class_indices)
        nb = self.num_batches * self.world_size
        cpb, m = self.classes_per_batch, self.m
        # distinct random classes per batch: the cpb smallest random keys
        picks = torch.rand(nb, num_cls, generator=g).topk(
            cpb, dim=1, largest=False).indices  # (nb, cpb)
        flat = picks.reshape(-1)
        draws = torch.bincount(flat, minlength=num_cls)  # per class
        # each class' image stream: shuffled copies until m * draws long
        streams = []
        for c, idx in enumerate(self.class_indices):
            need = int(draws[c]) * m
            reps = -(-need // len(idx)) if need else 0
            perm = torch.cat([
                idx[torch.randperm(len(idx), generator=g)]
                for _ in range(reps)
            ]) if reps else idx[:0]
            streams.append(perm[:need])
        pool = torch.cat(streams)
        offsets = torch.cumsum(draws * m, 0) - draws * m  # (num_cls,)
        # occurrence number of each slot among its class' slots
        sorted_cls, order = torch.sort(flat, stable=True)
        first = torch.cumsum(draws, 0) - draws
        occ = torch.empty_like(flat)
        occ[order] = torch.arange(len(flat)) - first[sorted_cls]
        pos = (offsets[flat] + occ * m).unsqueeze(1) + torch.arange(m)
        return pool[pos].view(nb, cpb * m)

    def __iter__(self) -> Iterator[int]:
        batches = self._all_batches()[self.rank::self.world_size]
        return iter(batches.reshape(-1).tolist())

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (called by ``DistSamplerSeedHook``)."""
        self.epoch = int(epoch)

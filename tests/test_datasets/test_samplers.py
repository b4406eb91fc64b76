import numpy as np
import pytest
import torch

import mmfg.datasets.samplers as samplers_mod
from mmfg.datasets import MPerClassSampler
from mmfg.utils.errors import ConfigError


class _Labelled(torch.utils.data.Dataset):

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return i

    def get_gt_labels(self):
        return self.labels


# classes 0..5 with 5, 3, 1 (fewer than m), 8, 4, 7 images
LABELS = [0] * 5 + [1] * 3 + [2] + [3] * 8 + [4] * 4 + [5] * 7


def _batches(sampler):
    idx = list(sampler)
    bs = sampler.batch_size
    assert len(idx) == len(sampler) and len(idx) % bs == 0
    return [idx[s:s + bs] for s in range(0, len(idx), bs)]


def test_batches_hold_m_images_of_distinct_classes():
    ds = _Labelled(LABELS)
    sampler = MPerClassSampler(ds, m=2, batch_size=6, seed=0, length=60)
    batches = _batches(sampler)
    assert len(batches) == 10
    labels = np.asarray(LABELS)
    for batch in batches:
        lab = labels[batch]
        values, counts = np.unique(lab, return_counts=True)
        assert len(values) == 3 and (counts == 2).all()
    # classes with enough images give distinct images inside a batch
    # whenever their stream does not wrap; over an epoch every image of a
    # drawn class is used before any repeats
    used = np.concatenate(batches)
    for c in (0, 3, 5):
        members = np.nonzero(labels == c)[0]
        drawn = used[labels[used] == c]
        first = drawn[:min(len(drawn), len(members))]
        assert len(set(first.tolist())) == len(first)


def test_deterministic_by_seed_and_epoch():
    ds = _Labelled(LABELS)
    a = MPerClassSampler(ds, m=2, batch_size=4, seed=3)
    b = MPerClassSampler(ds, m=2, batch_size=4, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)


def test_ranks_get_disjoint_batches_of_the_same_epoch(monkeypatch):
    ds = _Labelled(LABELS)
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(samplers_mod, 'get_dist_info',
                            lambda r=rank: (r, 2))
        s = MPerClassSampler(ds, m=2, batch_size=4, seed=7, length=40)
        s.set_epoch(2)
        per_rank.append(_batches(s))
        assert len(s) == 20  # 40 images / 2 ranks
    monkeypatch.setattr(samplers_mod, 'get_dist_info', lambda: (0, 2))
    s = MPerClassSampler(ds, m=2, batch_size=4, seed=7, length=40)
    s.set_epoch(2)
    everything = s._all_batches().tolist()
    # rank r holds batches r, r + 2, ... of the epoch's global list
    assert per_rank[0] == everything[0::2]
    assert per_rank[1] == everything[1::2]


def test_built_by_runner_dataloader():
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(
        dict(batch_size=6, num_workers=0, dataset=_Labelled(LABELS),
             sampler=dict(type='MPerClassSampler', m=3, batch_size=6),
             collate_fn=dict(type='default_collate')),
        seed=0)
    assert isinstance(loader.sampler, MPerClassSampler)
    labels = np.asarray(LABELS)
    for batch in loader:
        _, counts = np.unique(labels[batch.numpy()], return_counts=True)
        assert (counts == 3).all() and len(counts) == 2


def test_bad_configs():
    ds = _Labelled(LABELS)
    with pytest.raises(ConfigError, match='multiple of m'):
        MPerClassSampler(ds, m=4, batch_size=6)
    with pytest.raises(ConfigError, match='only 6'):
        MPerClassSampler(ds, m=1, batch_size=7)
    with pytest.raises(ConfigError, match='get_gt_labels'):
        MPerClassSampler(list(range(10)), m=2, batch_size=4)

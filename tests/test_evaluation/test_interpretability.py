"""Interpretability metrics on hand-computed cases, and under gloo DDP."""
import os.path as osp

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.registry import DefaultScope

import mmfg.evaluation  # noqa: F401
from mmfg.registry import METRICS


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmfg'):
        return METRICS.build(cfg)


CLS = torch.tensor([0, 0, 1, 1])


def _sample(idx, label, parts, locs, sims, contrib, noisy=None, boxes=None):
    d = dict(
        sample_idx=idx, img_shape=(100, 100), gt_label=torch.tensor([label]),
        gt_parts=torch.tensor(parts, dtype=torch.float32),
        proto_loc=torch.tensor(locs), proto_class=CLS,
        proto_valid=torch.ones(4, dtype=torch.bool),
        proto_sim=torch.tensor(sims), proto_contrib=torch.tensor(contrib))
    if noisy is not None:
        d['proto_loc_noisy'] = torch.tensor(noisy)
    if boxes is not None:
        d['gt_bboxes'] = torch.tensor(boxes, dtype=torch.float32)
    return d


# 4 images, 2 classes x 2 prototypes, 2 parts, half_size 10 (20 px boxes)
A = _sample(0, 0, [[20, 20, 1], [80, 80, 1]],
            [[22, 18], [50, 50], [80, 80], [0, 0]], [.9, .1, .2, .3],
            [3., 1., -1., 0.],
            noisy=[[22, 18], [20, 20], [80, 80], [0, 0]],
            boxes=[[10, 10, 40, 40]])
B = _sample(1, 0, [[30, 30, 1], [0, 0, 0]],
            [[31, 35], [30, 30], [0, 0], [99, 99]], [.8, .7, .1, 0.],
            [5., 0., 0., 0.],
            noisy=[[31, 35], [30, 30], [0, 0], [99, 99]],
            boxes=[[60, 60, 90, 90]])
C = _sample(2, 1, [[10, 10, 1], [90, 90, 1]],
            [[50, 50], [10, 10], [88, 91], [10, 10]], [.1, .2, .9, .95],
            [0., 0., 2., 2.],
            noisy=[[50, 50], [10, 10], [88, 91], [10, 10]],
            boxes=[[80, 80, 100, 100]])
D = _sample(3, 1, [[50, 50, 1], [60, 60, 1]],
            [[50, 50], [0, 0], [55, 55], [0, 0]], [.5, .6, .8, .1],
            [0., 0., 1., 4.],
            noisy=[[50, 50], [0, 0], [55, 55], [1, 1]],
            boxes=[[0, 0, 5, 5]])
SAMPLES = [A, B, C, D]


def _eval(cfg, shards):
    metric = _build(cfg)
    for shard in shards:
        metric.process(None, shard)
    return metric.evaluate(sum(len(s) for s in shards))


def test_consistency_by_hand():
    # p0: part0 2/2, p1: 1/2, p2: part1 2/2, p3: 1/2 -> 2 of 4 consistent
    res = _eval(dict(type='PrototypeConsistency', half_size=10), [SAMPLES])
    assert res == {'interp/consistency': pytest.approx(50.0)}
    # a lower threshold makes every prototype consistent
    res = _eval(dict(type='PrototypeConsistency', half_size=10,
                     part_thresh=0.5), [SAMPLES])
    assert res['interp/consistency'] == pytest.approx(100.0)
    # only part 1 considered: p2 alone
    res = _eval(dict(type='PrototypeConsistency', half_size=10, parts=[1]),
                [SAMPLES])
    assert res['interp/consistency'] == pytest.approx(25.0)


def test_stability_by_hand():
    # p1 changes its part hits on image A only: (1 + .5 + 1 + 1) / 4
    res = _eval(dict(type='PrototypeStability', half_size=10), [SAMPLES])
    assert res == {'interp/stability': pytest.approx(87.5)}
    metric = _build(dict(type='PrototypeStability'))
    bad = dict(A)
    del bad['proto_loc_noisy']
    with pytest.raises(KeyError, match='PrototypeStabilityHook'):
        metric.process(None, [bad])


def test_purity_by_hand_and_duplicates_ignored():
    # top-2 images: p0 (A, B) part0 2/2; p1 (B, D) 1/2; p2 (C, D) part1
    # 2/2; p3 (C, A) 1/2 -> mean .75
    cfg = dict(type='PrototypePurity', top_k=2, half_size=10)
    assert _eval(cfg, [SAMPLES]) == {'interp/purity': pytest.approx(75.0)}
    # batching and a duplicated image (sampler padding) change nothing
    assert _eval(cfg, [[D, B], [A], [C, D]]) == {
        'interp/purity': pytest.approx(75.0)}


def test_sparsity_by_hand():
    # A: positive [3, 1] of 4 -> 2 prototypes for 90%; B: 1; C: 2 of the
    # valid 3 (the 4th is pruned)
    c = dict(C)
    c['proto_contrib'] = torch.tensor([1., 1., 1., 1.])
    c['proto_valid'] = torch.tensor([True, True, True, False])
    res = _eval(dict(type='ExplanationSparsity', mass=0.9), [[A, B, c]])
    assert res['interp/explanation_size'] == pytest.approx(2.0)
    expect = ((1 - 2 / 4) + (1 - 1 / 4) + (1 - 3 / 3)) / 3 * 100
    assert res['interp/sparsity'] == pytest.approx(expect)


def test_part_localization_by_hand():
    # top contributions: A p0 @ (22,18): part0, in box; B p0 @ (31,35):
    # part0, not in box; C p2/p3 tie -> p2 @ (88,91): part1, in box;
    # D p3 @ (0,0): no part, in box
    res = _eval(dict(type='PrototypePartLocalization', half_size=10),
                [SAMPLES])
    assert res['interp/on_part'] == pytest.approx(75.0)
    assert res['interp/on_object'] == pytest.approx(75.0)
    assert res['interp/background'] == pytest.approx(25.0)
    res = _eval(dict(type='PrototypePartLocalization', half_size=10,
                     parts=[1]), [SAMPLES])
    assert res['interp/on_part'] == pytest.approx(25.0)


def _worker(rank, world, tmp):
    dist.init_process_group(
        'gloo', init_method=f'file://{osp.join(tmp, "pg")}', rank=rank,
        world_size=world)
    try:
        # DefaultSampler order for 5 samples on 2 ranks: rank r gets
        # indices r, r + 2, ... of [A, B, C, D, A(pad)] -> collect_results
        # drops the padded A, purity drops it by sample_idx
        data = SAMPLES + [SAMPLES[4 % 4]]
        mine = data[rank::world]
        out = {}
        for cfg in (dict(type='PrototypeConsistency', half_size=10),
                    dict(type='PrototypeStability', half_size=10),
                    dict(type='PrototypePurity', top_k=2, half_size=10),
                    dict(type='ExplanationSparsity')):
            metric = _build(cfg)
            metric.process(None, mine)
            out.update(metric.evaluate(4))
        torch.save(out, osp.join(tmp, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_metrics_under_two_process_gloo(tmp_path):
    single = {}
    for cfg in (dict(type='PrototypeConsistency', half_size=10),
                dict(type='PrototypeStability', half_size=10),
                dict(type='PrototypePurity', top_k=2, half_size=10),
                dict(type='ExplanationSparsity')):
        single.update(_eval(cfg, [SAMPLES]))
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        res = torch.load(tmp_path / f'rank{rank}.pth', weights_only=False)
        assert res == pytest.approx(single)

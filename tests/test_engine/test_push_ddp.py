"""Push and prune give the same answer on 2 gloo DDP processes as on one."""
import os
import os.path as osp

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from push_helpers import TinyProtoDataset, build_tiny_model, tiny_loader


def _run(model, loader):
    from mmfg.engine.hooks.prune_hook import find_nearest_images
    from mmfg.engine.hooks.push_hook import push_prototypes
    nearest = find_nearest_images(model, loader, k=4)
    out = push_prototypes(model, loader, epoch=3)
    protos = {n: l.prototypes.detach().clone()
              for n, l in model.head.prototype_layers().items()}
    return dict(protos=protos, records=out['records'],
                nearest={n: {k: v.cpu() for k, v in r.items()}
                         for n, r in nearest.items()})


HEADS = ('ProtoPNetHead', 'STProtoPNetHead')


def _worker(rank: int, world: int, tmp: str) -> None:
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'file://{osp.join(tmp, "pg")}', rank=rank,
        world_size=world)
    try:
        from mmengine.dataset import DefaultSampler
        ds = TinyProtoDataset(num_classes=3, per_class=5)  # 15: padded
        sampler = DefaultSampler(ds, shuffle=False)
        for head in HEADS:
            model = build_tiny_model(head)
            model.load_state_dict(
                torch.load(osp.join(tmp, f'{head}_init.pth')))
            res = _run(model, tiny_loader(ds, 4, sampler=sampler))
            torch.save(res, osp.join(tmp, f'{head}_rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_push_equals_single_process(tmp_path):
    ds = TinyProtoDataset(num_classes=3, per_class=5)
    singles = {}
    for head in HEADS:
        model = build_tiny_model(head, seed=3)
        torch.save(model.state_dict(), tmp_path / f'{head}_init.pth')
        singles[head] = _run(model, tiny_loader(ds, 7))
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for head, rank in [(h, r) for h in HEADS for r in range(2)]:
        single = singles[head]
        res = torch.load(tmp_path / f'{head}_rank{rank}.pth',
                         weights_only=False)
        for name, p in single['protos'].items():
            # the same patches (exact indices below); the vectors agree up
            # to the backbone's batch-size-dependent float rounding
            torch.testing.assert_close(res['protos'][name], p, atol=1e-6,
                                       rtol=1e-6)
            a = single['records']['branches'][name]
            b = res['records']['branches'][name]
            assert [(r['img_idx'], r['latent_pos'], r['img_path'],
                     r['rf_box'], r['hact_box']) for r in a] == \
                [(r['img_idx'], r['latent_pos'], r['img_path'], r['rf_box'],
                  r['hact_box']) for r in b]
            for key in ('img_idx', 'label'):
                assert torch.equal(res['nearest'][name][key],
                                   single['nearest'][name][key])
            torch.testing.assert_close(res['nearest'][name]['dist'],
                                       single['nearest'][name]['dist'])

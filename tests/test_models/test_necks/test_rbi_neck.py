"""RBINeck: PSNR relations, equivariance, test-time behaviour, DDP."""
import math
import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp

from mmfg.models.necks.rbi import image_thumbnails, psnr_scores
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

C = 16


# the paper's plain residual attention (no gate, no centring, full gradient)
PLAIN = dict(layer_scale=None, center_values=False, detach_others=False)


def _neck(seed=0, **kw):
    """A neck with the given options; a gate (default ``layer_scale=0``)
    gets random values, as after training, so the branch is not a no-op."""
    torch.manual_seed(seed)
    cfg = dict(type='RBINeck', in_channels=C, num_heads=4, psnr_size=4)
    cfg.update(kw)
    neck = MODELS.build(cfg)
    if neck.gamma is not None:
        with torch.no_grad():
            neck.gamma.normal_()
    return neck


def _batch(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, C, 2, 2, generator=g)
    images = torch.randn(n, 3, 8, 8, generator=g)
    return feats, images


def test_psnr_scores_equal_slow_pairwise_loop():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 3, 8, 8, generator=g) * 4
    b = torch.cat([a[:2], a[2:4] + 0.05 * torch.randn(2, 3, 8, 8,
                                                      generator=g)])
    ta, tb = image_thumbnails(a, 4), image_thumbnails(b, 4)
    out = psnr_scores(ta, tb, data_range=4.0, max_psnr=40.0)
    ref = torch.empty(5, 4)
    for i in range(5):
        for j in range(4):
            pa = torch.nn.functional.avg_pool2d(a[i].double(), 2)
            pb = torch.nn.functional.avg_pool2d(b[j].double(), 2)
            mse = ((pa - pb)**2).mean().item()
            psnr = 40.0 if mse == 0 else 10 * math.log10(16.0 / mse)
            ref[i, j] = min(max(psnr, 0.0), 40.0) / 40.0
    torch.testing.assert_close(out, ref, atol=2e-4, rtol=0)
    assert out[0, 0] == 1 and out[1, 1] == 1  # identical images
    assert (out >= 0).all() and (out <= 1).all()


def test_permutation_equivariance_in_training():
    neck = _neck().train()
    feats, images = _batch(6)
    out, = neck((feats, ), images=images)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out_p, = neck((feats[perm], ), images=images[perm])
    torch.testing.assert_close(out_p, out[perm])
    # the batch matters in training: a different companion changes row 0
    other, = neck((feats[:3], ), images=images[:3])
    assert (other[0] - out[0]).abs().max() > 1e-4


def test_rpe_steers_attention_to_related_images():
    neck = _neck(**PLAIN).train()
    with torch.no_grad():
        neck.q.weight.zero_()
        neck.q.bias.zero_()  # content logits vanish: only the RPE bias
        neck.rpe[0].weight.fill_(1.0)
        neck.rpe[0].bias.zero_()
        neck.rpe[2].weight.fill_(200.0)
        neck.rpe[2].bias.zero_()  # bias = 200 * score on every head
    feats, images = _batch(4)
    images[2] = images[1] + 1e-3  # images 1 and 2 nearly identical
    out, = neck((feats, ), images=images)
    x = feats.mean(dim=(2, 3))
    # image 0 attends to itself (score 1 vs < 1 for the others)
    torch.testing.assert_close(out[0], neck.attend_self(x[:1])[0])
    # images 1 and 2 share their attention equally
    v = neck.kv(neck.norm(x)).chunk(2, dim=-1)[1]
    mixed = x[1] + neck.proj(0.5 * (v[1] + v[2]))
    torch.testing.assert_close(out[1], mixed, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('test_mode', ['self', 'memory'])
def test_test_time_output_independent_of_batch(test_mode):
    neck = _neck(test_mode=test_mode, memory_size=8)
    feats, images = _batch(10)
    neck.train()
    neck((feats[:6], ), images=images[:6])  # fills the memory bank
    neck.eval()
    full, = neck((feats, ), images=images)
    alone = torch.cat(
        [neck((feats[i:i + 1], ), images=images[i:i + 1])[0]
         for i in range(10)])
    torch.testing.assert_close(full, alone)
    shuffled, = neck((feats.flip(0)[:5], ), images=images.flip(0)[:5])
    torch.testing.assert_close(shuffled, full.flip(0)[:5])
    if test_mode == 'self':
        torch.testing.assert_close(
            full, neck.attend_self(feats.mean(dim=(2, 3))))
    else:
        # memory attention is not the self-only output
        assert (full - neck.attend_self(feats.mean(dim=(2, 3)))).abs().max() \
            > 1e-4


def test_transductive_mode_uses_the_test_batch():
    neck = _neck(transductive=True).eval()
    feats, images = _batch(5)
    full, = neck((feats, ), images=images)
    train_out, = neck.train()((feats, ), images=images)
    torch.testing.assert_close(full, train_out)
    neck.eval()
    part, = neck((feats[:2], ), images=images[:2])
    assert (part[0] - full[0]).abs().max() > 1e-4


def test_batch_of_one_in_training_equals_self_attention():
    neck = _neck(**PLAIN).train()
    feats, images = _batch(1)
    out, = neck((feats, ), images=images)
    torch.testing.assert_close(out, neck.attend_self(feats.mean(dim=(2, 3))))
    out.sum().backward()
    assert neck.kv.weight.grad.abs().sum() > 0
    # centred values (default): a relation set of one is the identity
    neck = _neck().train()
    out, = neck((feats, ), images=images)
    torch.testing.assert_close(out, feats.mean(dim=(2, 3)))


def test_fresh_default_neck_is_identity_and_trains_its_gate():
    torch.manual_seed(0)
    neck = MODELS.build(
        dict(type='RBINeck', in_channels=C, num_heads=4, psnr_size=4))
    feats, images = _batch(6)
    x = feats.mean(dim=(2, 3))
    out, = neck.train()((feats, ), images=images)
    assert torch.equal(out, x)  # gamma = 0
    (out * torch.randn_like(out)).sum().backward()
    assert neck.gamma.grad.abs().sum() > 0
    assert neck.proj.weight.grad.abs().sum() == 0  # gated off at start
    for mode in ('self', 'memory'):
        neck.test_mode = mode
        assert torch.equal(neck.eval()((feats, ), images=images)[0], x)


def test_centred_values_subtract_the_relation_set_mean():
    feats, images = _batch(5)
    x = feats.mean(dim=(2, 3))
    plain, = _neck(center_values=False).train()((feats, ), images=images)
    neck = _neck().train()
    out, = neck((feats, ), images=images)
    v = neck.kv(neck.norm(x)).chunk(2, dim=-1)[1]
    # out = x + gamma * (proj(A v) - proj(mean v)), proj affine
    ref = plain - neck.gamma * (v.mean(0) @ neck.proj.weight.t()
                                + neck.proj.bias)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # uniform attention (no content logits, no RPE): the neck is a no-op
    uniform = _neck(rpe=False).train()
    with torch.no_grad():
        uniform.q.weight.zero_()
        uniform.q.bias.zero_()
    torch.testing.assert_close(
        uniform((feats, ), images=images)[0], x, atol=1e-6, rtol=0)


def test_detach_others_equals_per_image_reference():
    """Same outputs as full gradient; the gradient equals a loop in which
    image i sees the other images' features as constants."""
    feats, images = _batch(5)
    x = feats.mean(dim=(2, 3))
    w = torch.randn(5, C, generator=torch.Generator().manual_seed(3))
    neck = _neck().train()
    f = x.clone().requires_grad_(True)
    out, = neck((f, ), images=images)
    (out * w).sum().backward()
    full, = _neck(detach_others=False).train()((x, ), images=images)
    torch.testing.assert_close(out, full)
    ref_grad = torch.zeros_like(x)
    thumbs = image_thumbnails(images, 4)
    scores = neck.relation_scores(thumbs, thumbs)
    for i in range(5):
        fi = x[i:i + 1].clone().requires_grad_(True)
        keys = torch.cat([x[:i], fi, x[i + 1:]])
        oi = _neck(detach_others=False).train().attend(
            fi, keys, scores[i:i + 1])
        torch.testing.assert_close(oi, out[i:i + 1].detach())
        (oi * w[i]).sum().backward()
        ref_grad[i] = fi.grad[0]
    torch.testing.assert_close(f.grad, ref_grad, atol=1e-5, rtol=1e-4)
    # without detaching, others' losses reach each feature too
    g = x.clone().requires_grad_(True)
    o, = _neck(detach_others=False).train()((g, ), images=images)
    (o * w).sum().backward()
    assert (g.grad - ref_grad).abs().max() > 1e-4


def test_memory_mode_equals_attention_over_self_and_bank():
    neck = _neck(memory_size=4).train()
    feats, images = _batch(7)
    neck((feats[:4], ), images=images[:4])  # bank = images 0..3
    neck.eval()
    out, = neck((feats[4:], ), images=images[4:])
    x = feats.mean(dim=(2, 3))
    thumbs = image_thumbnails(images, 4)
    for i in range(4, 7):
        keys = torch.cat([x[i:i + 1], neck.memory_feats])
        kt = torch.cat([thumbs[i:i + 1], neck.memory_thumbs])
        ref = neck.attend(x[i:i + 1], keys,
                          neck.relation_scores(thumbs[i:i + 1], kt),
                          torch.tensor([0]))
        torch.testing.assert_close(out[i - 4:i - 3], ref)


def test_memory_bank_is_fifo_and_saved():
    neck = _neck(test_mode='memory', memory_size=5).train()
    feats, images = _batch(8)
    neck((feats[:3], ), images=images[:3])
    assert int(neck.memory_ptr) == 3 and not bool(neck.memory_full)
    neck((feats[3:7], ), images=images[3:7])
    x = feats.mean(dim=(2, 3))
    assert int(neck.memory_ptr) == 2 and bool(neck.memory_full)
    # slots 0,1 overwritten by samples 5,6; slots 2,3,4 keep samples 2,3,4
    torch.testing.assert_close(neck.memory_feats, x[[5, 6, 2, 3, 4]])
    torch.testing.assert_close(neck.memory_thumbs,
                               image_thumbnails(images, 4)[[5, 6, 2, 3, 4]])
    clone = _neck(seed=3, test_mode='memory', memory_size=5)
    clone.load_state_dict(neck.state_dict())
    neck.eval(), clone.eval()
    torch.testing.assert_close(clone((feats, ), images=images)[0],
                               neck((feats, ), images=images)[0])


def test_errors_name_the_fix():
    with pytest.raises(ConfigError, match='ImageNeckClassifier'):
        _neck()((torch.randn(2, C, 2, 2), ))
    with pytest.raises(ConfigError, match='relation_scope'):
        _neck(relation_scope='world')
    with pytest.raises(ConfigError, match='test_mode'):
        _neck(test_mode='batch')
    with pytest.raises(ConfigError, match='num_heads'):
        _neck(num_heads=5)


# ---------------------------------------------------------------- DDP (gloo)
SIZES = (3, 5)  # uneven per-rank batches


def _ddp_worker(rank, world, tmp):
    import torch.distributed as dist
    dist.init_process_group(
        'gloo', init_method=f'file://{osp.join(tmp, "pg")}', rank=rank,
        world_size=world)
    try:
        feats, images = _batch(sum(SIZES))
        start = sum(SIZES[:rank])
        sl = slice(start, start + SIZES[rank])
        w = torch.randn(sum(SIZES), C, generator=torch.Generator()
                        .manual_seed(7))
        res = {}
        for scope in ('global', 'local'):
            neck = _neck(relation_scope=scope).train()
            f = feats[sl].clone().requires_grad_(True)
            out, = neck((f, ), images=images[sl])
            (out * w[sl]).sum().backward()
            res[scope] = (out.detach(), f.grad.clone())
        torch.save(res, osp.join(tmp, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_ddp_global_scope_equals_single_process_on_global_batch(tmp_path):
    # fork: the workers reuse this process's imports (spawn re-imports
    # mmpretrain in each worker, ~20 s on a loaded machine)
    mp.start_processes(_ddp_worker, args=(2, str(tmp_path)), nprocs=2,
                       join=True, start_method='fork')
    feats, images = _batch(sum(SIZES))
    w = torch.randn(sum(SIZES), C, generator=torch.Generator().manual_seed(7))
    # one process, the global batch: what 'global' must reproduce
    neck = _neck().train()
    f = feats.clone().requires_grad_(True)
    out, = neck((f, ), images=images)
    (out * w).sum().backward()
    start = 0
    for rank, n in enumerate(SIZES):
        res = torch.load(osp.join(tmp_path, f'rank{rank}.pth'))
        sl = slice(start, start + n)
        g_out, g_grad = res['global']
        torch.testing.assert_close(g_out, out[sl].detach())
        # gradient of the sum of all ranks' losses w.r.t. this rank's rows
        torch.testing.assert_close(g_grad, f.grad[sl])
        # 'local': each rank relates only its own images
        l_out, _ = res['local']
        ref, = _neck().train()((feats[sl], ), images=images[sl])
        torch.testing.assert_close(l_out, ref.detach())
        assert (l_out - g_out).abs().max() > 1e-4
        start += n

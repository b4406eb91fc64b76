"""MetaFormer backbone: bias indexing against a slow construction, meta
tokens, outputs, table resizing."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmfg.models.backbones.metaformer import (MetaFormer, RelPosAttention,
                                              relative_position_index,
                                              resize_rel_pos_bias_table)
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError


def slow_index(h, w, num_extra):
    """Token pair → table row, written out pair by pair."""
    t = (2 * h - 1) * (2 * w - 1)
    n = num_extra + h * w
    index = torch.empty(n, n, dtype=torch.long)
    for i in range(n):
        for j in range(n):
            if i < num_extra and j < num_extra:
                index[i, j] = t + 2
            elif i < num_extra:
                index[i, j] = t
            elif j < num_extra:
                index[i, j] = t + 1
            else:
                yi, xi = divmod(i - num_extra, w)
                yj, xj = divmod(j - num_extra, w)
                dy, dx = yi - yj, xi - xj
                index[i, j] = (dy + h - 1) * (2 * w - 1) + (dx + w - 1)
    return index


@pytest.mark.parametrize('h,w,e', [(3, 3, 1), (2, 4, 3), (4, 3, 0)])
def test_relative_position_index_matches_slow(h, w, e):
    assert torch.equal(relative_position_index((h, w), e), slow_index(h, w, e))


def test_extra_tokens_do_not_share_a_patch_offset():
    """The official padding sends class/meta pairs to row 0, the offset
    (-(h-1), -(w-1)); here they have rows of their own."""
    h, w, e = 3, 4, 3
    index = relative_position_index((h, w), e)
    patch_rows = set(index[e:, e:].flatten().tolist())
    extra_rows = set(index[:e].flatten().tolist()) | set(
        index[:, :e].flatten().tolist())
    assert patch_rows == set(range((2 * h - 1) * (2 * w - 1)))
    assert not patch_rows & extra_rows
    assert 0 in patch_rows  # row 0 is a real offset: the corner pair
    assert index[e, e + h * w - 1] == 0


def test_attention_bias_and_output_match_slow_reference():
    torch.manual_seed(0)
    h, w, e, heads, dim = 3, 2, 2, 2, 8
    attn = RelPosAttention(dim, heads, (h, w))
    with torch.no_grad():
        attn.rel_pos_bias_table.normal_()
    bias = attn.rel_pos_bias((h, w), e)
    idx = slow_index(h, w, e)
    n = e + h * w
    slow_bias = torch.empty(heads, n, n)
    for k in range(heads):
        for i in range(n):
            for j in range(n):
                slow_bias[k, i, j] = attn.rel_pos_bias_table[idx[i, j], k]
    assert torch.equal(bias, slow_bias)

    x = torch.randn(2, n, dim)
    out = attn(x, (h, w), e)
    q, k, v = attn.qkv(x).view(2, n, 3, heads, dim // heads).permute(
        2, 0, 3, 1, 4)
    logits = q @ k.transpose(-1, -2) / math.sqrt(dim // heads) + slow_bias
    ref = (logits.softmax(-1) @ v).transpose(1, 2).reshape(2, n, dim)
    assert torch.allclose(out, attn.proj(ref), atol=1e-5)


def test_resize_table_identity_constant_and_centre():
    table = torch.randn(5 * 5 + 3, 2)
    assert resize_rel_pos_bias_table(table, (3, 3), (3, 3)) is table
    out = resize_rel_pos_bias_table(table, (3, 3), (5, 4))
    assert out.shape == (9 * 7 + 3, 2)
    assert torch.equal(out[-3:], table[-3:])  # extra entries kept
    # zero offset and the corners map onto themselves (align_corners)
    plane_in = table[:25].T.reshape(2, 5, 5)
    plane_out = out[:63].T.reshape(2, 9, 7)
    assert torch.allclose(plane_out[:, 4, 3], plane_in[:, 2, 2], atol=1e-6)
    assert torch.allclose(plane_out[:, 0, 0], plane_in[:, 0, 0], atol=1e-6)
    const = torch.full((25 + 3, 1), 0.7)
    assert torch.allclose(
        resize_rel_pos_bias_table(const, (3, 3), (6, 6)), torch.tensor(0.7))
    # a bias linear in the offset stays linear (bicubic reproduces lines)
    dy, dx = torch.meshgrid(
        torch.arange(-2., 3), torch.arange(-2., 3), indexing='ij')
    ramp = torch.cat([(0.5 * dy + 0.25 * dx).reshape(-1, 1),
                      torch.zeros(3, 1)])
    out = resize_rel_pos_bias_table(ramp, (3, 3), (5, 5))
    ndy, ndx = torch.meshgrid(
        torch.linspace(-2, 2, 9), torch.linspace(-2, 2, 9), indexing='ij')
    got, want = out[:81, 0].reshape(9, 9), 0.5 * ndy + 0.25 * ndx
    # exact where the 4-tap stencil stays inside the table, and at the
    # points that fall on old offsets; only the border rows feel clamping
    assert torch.allclose(got[2:6, 2:6], want[2:6, 2:6], atol=1e-5)
    assert torch.allclose(got[::2, ::2], want[::2, ::2], atol=1e-5)
    with pytest.raises(ValueError, match='rows'):
        resize_rel_pos_bias_table(table, (4, 4), (5, 5))


def _tiny(**kwargs):
    cfg = dict(type='MetaFormer', arch='tiny', img_size=64, **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_paper_architectures_have_the_paper_sizes():
    # params without the classifier; the paper counts 28M / 45M / 81M
    # with a 1000-class head
    for arch, expected in (('0', 27.95), ('1', 45.10)):
        with torch.device('meta'):  # shapes only, nothing allocated
            model = MetaFormer(arch=arch)
        n = sum(p.numel() for p in model.parameters())
        assert abs(n / 1e6 - expected) < 0.01


def test_cls_token_output_and_meta_semantics():
    torch.manual_seed(0)
    model = _tiny(meta_dims=dict(time=4, location=3)).eval()
    x = torch.randn(3, 3, 64, 64)
    meta = dict(time=torch.randn(3, 4), location=torch.randn(3, 3))
    with torch.no_grad():
        out = model(x, meta)
        zero = model(x, {k: torch.zeros_like(v) for k, v in meta.items()})
        none = model(x)
        partial = model(x, dict(time=meta['time']))
        partial_ref = model(
            x, dict(time=meta['time'], location=torch.zeros(3, 3)))
    assert len(out) == 1 and out[0].shape == (3, 96)
    assert torch.equal(none[0], zero[0])  # missing meta = zeros
    assert torch.equal(partial[0], partial_ref[0])
    assert not torch.allclose(out[0], zero[0])  # meta changes the output
    # each sample sees only its own meta
    with torch.no_grad():
        single = model(x[:1], {k: v[:1] for k, v in meta.items()})
    assert torch.allclose(single[0], out[0][:1], atol=1e-5)


def test_meta_tokens_count_and_sequence_meta():
    model = _tiny(meta_dims=dict(time=4, text=8)).eval()
    seen = []
    stage = model.stages[2]
    handle = stage.blocks[0].register_forward_pre_hook(
        lambda m, args: seen.append((args[0].shape[1], args[2])))
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64),
              dict(time=torch.randn(2, 4), text=torch.randn(2, 5, 8)))
    handle.remove()
    # 1 class token + 1 time token + 5 text tokens, 4x4 patches
    assert seen == [(1 + 1 + 5 + 16, 7)]


def test_without_meta_and_featmaps_of_any_size():
    model = _tiny(out_type='featmap', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        maps = model(torch.randn(1, 3, 70, 100))
    # strides 4, 8, 16, 32, rounded up
    assert [tuple(m.shape) for m in maps] == [(1, 24, 18, 25),
                                              (1, 32, 9, 13), (1, 64, 5, 7),
                                              (1, 96, 3, 4)]
    # the bias of a larger grid is the resized table
    attn = model.stages[2].blocks[0].attn
    resized = resize_rel_pos_bias_table(attn.rel_pos_bias_table, attn.grid,
                                        (5, 7))
    assert torch.equal(
        attn.rel_pos_bias((5, 7), 1)[:, 1:, 1:],
        resized[relative_position_index((5, 7), 0)].permute(2, 0, 1))


def test_meta_dropout_zeroes_whole_samples():
    torch.manual_seed(0)
    model = _tiny(meta_dims=dict(time=4, location=3), meta_drop_prob=0.5)
    model.train()
    x = torch.randn(6, 3, 64, 64)
    meta = dict(time=torch.rand(6, 4) + 1, location=torch.rand(6, 3) + 1)
    dropped = model._check_meta(meta, 6, x)
    zero_t = (dropped['time'] == 0).all(1)
    zero_l = (dropped['location'] == 0).all(1)
    assert torch.equal(zero_t, zero_l) and int(zero_t.sum()) == 3
    assert torch.equal(dropped['time'][~zero_t], meta['time'][~zero_t])
    model.eval()
    assert torch.equal(model._check_meta(meta, 6, x)['time'], meta['time'])
    # p = 1 in training = zero meta
    model.train()
    model.meta_drop_prob = 1.0
    torch.manual_seed(1)
    a = model(x, meta)[0]
    torch.manual_seed(1)
    b = model(x, {k: torch.zeros_like(v) for k, v in meta.items()})[0]
    assert torch.allclose(a, b, atol=1e-6)


def test_gradients_reach_meta_encoders_and_bias_tables():
    model = _tiny(meta_dims=dict(time=4))
    out = model(torch.randn(2, 3, 64, 64), dict(time=torch.randn(2, 4)))[0]
    out.square().sum().backward()
    enc = model.meta_encoders[0]['time']
    assert enc.fc.weight.grad.abs().sum() > 0
    table = model.stages[3].blocks[0].attn.rel_pos_bias_table
    assert table.grad[-3:].abs().sum() > 0  # the extra-token entries


def test_bad_config_and_meta():
    with pytest.raises(ConfigError, match='unknown arch'):
        MetaFormer(arch='huge')
    with pytest.raises(ConfigError, match='out_type'):
        MetaFormer(arch='tiny', out_type='pooled')
    with pytest.raises(ConfigError, match='out_indices'):
        MetaFormer(arch='tiny', out_indices=(4, ))
    model = _tiny(meta_dims=dict(time=4)).eval()
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(KeyError, match='not in meta_dims'):
        model(x, dict(place=torch.zeros(1, 3)))
    with pytest.raises(ValueError, match=r'meta\["time"\]'):
        model(x, dict(time=torch.zeros(1, 5)))


def test_torch_functional_matches_module_under_no_grad():
    """Backbone is deterministic in eval and runs under inference mode."""
    model = _tiny().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        a = model(x)[0]
    with torch.no_grad():
        b = model(x)[0]
    assert torch.equal(a, b)
    assert F.normalize(a, dim=1).shape == (2, 96)


def test_pretrained_init_keeps_own_init_for_missing_keys(tmp_path):
    torch.manual_seed(0)
    src = _tiny()  # no meta
    ckpt = str(tmp_path / 'plain.pth')
    torch.save(
        dict(state_dict={f'backbone.{k}': v
                         for k, v in src.state_dict().items()}), ckpt)
    model = MODELS.build(
        dict(type='MetaFormer', arch='tiny', img_size=64,
             meta_dims=dict(time=4),
             init_cfg=dict(type='Pretrained', checkpoint=ckpt,
                           prefix='backbone.')))
    model.init_weights()
    assert torch.equal(model.cls_tokens[0], src.cls_tokens[0])
    enc = model.meta_encoders[0]['time']
    assert enc.fc.bias.abs().sum() == 0  # trunc-normal init, zero bias
    assert enc.fc.weight.std() < 0.05

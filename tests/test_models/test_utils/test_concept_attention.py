"""Slot attention and concept cross-attention against slow references."""
import math

import pytest
import torch

from mmfg.models.utils import ConceptCrossAttention, SlotAttention


def _slot_reference(m: SlotAttention, x, slots):
    """One slot-attention iteration written with loops over b, n, k."""
    B, N, _ = x.shape
    K, D = slots.shape[1:]
    xn = m.norm_inputs(x)
    k = m.to_k(xn) / math.sqrt(D)
    v = m.to_v(xn)
    q = m.to_q(m.norm_slots(slots))
    attn = torch.zeros(B, N, K)
    for b in range(B):
        for n in range(N):
            logits = torch.stack([k[b, n] @ q[b, s] for s in range(K)])
            e = torch.exp(logits - logits.max())
            attn[b, n] = e / e.sum()  # normalised over the slots
    new = torch.zeros(B, K, D)
    for b in range(B):
        for s in range(K):
            w = attn[b, :, s] + m.eps
            w = w / w.sum()  # weighted mean over the inputs
            upd = sum(w[n] * v[b, n] for n in range(N))
            new[b, s] = m.gru(upd[None], slots[b, s][None])[0]
    return new, attn


@pytest.mark.parametrize('init', ['gaussian', 'learned'])
def test_slot_attention_matches_loop_reference(init):
    torch.manual_seed(0)
    m = SlotAttention(num_slots=4, dim=8, init=init).eval()
    x = torch.randn(2, 5, 8)
    slots, attn = m(x)
    ref_slots, ref_attn = _slot_reference(m, x, m.initial_slots(2, x))
    assert torch.allclose(attn, ref_attn, atol=1e-6)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 5), atol=1e-6)
    assert torch.allclose(slots, ref_slots, atol=1e-5)


def test_slot_attention_eval_is_deterministic_train_is_not():
    torch.manual_seed(0)
    m = SlotAttention(num_slots=3, dim=8)
    x = torch.randn(2, 1, 8)
    m.eval()
    assert torch.equal(m(x)[0], m(x)[0])
    m.train()
    assert not torch.allclose(m(x)[0], m(x)[0])


def test_cross_attention_equals_explicit_softmax():
    torch.manual_seed(0)
    C, H = 8, 2
    m = ConceptCrossAttention(C, num_heads=H, out_dim=3).eval()
    x = torch.randn(2, 5, C)
    c = torch.randn(1, 4, C)  # shared by the batch
    out, attn = m(x, c)
    d = C // H
    q = m.q(x)
    k, v = m.kv(c).split(C, dim=-1)
    heads, weights = [], []
    for h in range(H):
        sl = slice(h * d, (h + 1) * d)
        a = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) /
                          math.sqrt(d), dim=-1)
        weights.append(a)
        heads.append(a @ v[..., sl])
    ref = m.proj(torch.cat(heads, -1))
    assert torch.allclose(attn, torch.stack(weights, 1), atol=1e-6)
    assert torch.allclose(out, ref, atol=1e-5)
    # per-image concepts give the same answer as the shared ones
    out2, _ = m(x, c.expand(2, -1, -1))
    assert torch.allclose(out, out2, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match='divisible'):
        ConceptCrossAttention(10, num_heads=3)
    with pytest.raises(ValueError, match='init'):
        SlotAttention(2, 4, init='uniform')

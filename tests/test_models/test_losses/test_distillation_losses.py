import math

import pytest
import torch
import torch.nn.functional as F

from mmfg.models.losses.distillation_losses import (MILDistillLoss,
                                                    MultiCropDistillLoss,
                                                    kl_divergence,
                                                    loop_region_loss_reference,
                                                    match_regions,
                                                    mil_log_probs,
                                                    soft_cross_entropy)
from mmfg.registry import MODELS


def test_soft_cross_entropy_hand_computed():
    # student logits (0, ln 2) at tau 1 -> log-probs (ln 1/3, ln 2/3)
    s = torch.tensor([[0., math.log(2.)]])
    t = torch.tensor([[0.25, 0.75]])
    want = -(0.25 * math.log(1 / 3) + 0.75 * math.log(2 / 3))
    assert soft_cross_entropy(s, t).item() == pytest.approx(want, abs=1e-6)
    # temperature divides the logits: tau 0.5 doubles them
    want2 = -(0.25 * math.log(1 / 5) + 0.75 * math.log(4 / 5))
    assert soft_cross_entropy(s, t, 0.5).item() == pytest.approx(
        want2, abs=1e-6)


def test_kl_divergence_hand_computed_and_zero_probs():
    p = torch.tensor([[0.5, 0.5, 0.0]])
    q = torch.tensor([[0.25, 0.25, 0.5]])
    # 0.5 ln 2 + 0.5 ln 2 + 0 (0 log 0 = 0)
    assert kl_divergence(p.clamp_min(1e-45).log(), q.log()).item() == \
        pytest.approx(math.log(2.), abs=1e-6)
    assert kl_divergence(q.log(), q.log()).item() == pytest.approx(
        0., abs=1e-7)


def test_mil_log_probs_is_log_of_weighted_mixture():
    g = torch.Generator().manual_seed(0)
    logp = F.log_softmax(torch.randn(3, 5, 7, generator=g), -1)
    a = torch.rand(3, 5, generator=g).softmax(-1)
    want = (a[..., None] * logp.exp()).sum(1).log()
    torch.testing.assert_close(mil_log_probs(logp, a), want)
    assert torch.allclose(mil_log_probs(logp, a).exp().sum(-1),
                          torch.ones(3))


def test_mil_distill_loss_value_and_gradient():
    loss = MODELS.build(dict(type='MILDistillLoss', loss_weight=2.0))
    img = torch.tensor([[0.5, 0.5]]).log()
    reg = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]).clamp_min(1e-45).log()
    a = torch.tensor([[0.25, 0.75]])  # pooled (0.25, 0.75)
    want = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert loss(img, reg, a).item() == pytest.approx(2 * want, abs=1e-5)
    # the image-level target is detached by default
    img = img.clone().requires_grad_()
    a = a.clone().requires_grad_()
    loss(img, reg, a).backward()
    assert img.grad is None and a.grad is not None
    assert isinstance(loss, MILDistillLoss)


def test_match_regions_against_loop():
    g = torch.Generator().manual_seed(1)
    fs = torch.randn(2, 6, 8, generator=g)
    ft = torch.randn(2, 4, 8, generator=g)
    idx = match_regions(fs, ft)
    for b in range(2):
        for n in range(6):
            sims = [F.cosine_similarity(fs[b, n], ft[b, m], 0)
                    for m in range(4)]
            assert idx[b, n] == int(torch.stack(sims).argmax())


def _views(g, B=3, K=11, D=8):
    """2 global views (9 regions) and 3 local views (4 regions)."""
    sg = torch.randn(2, B, 9, K, generator=g)
    sl = torch.randn(3, B, 4, K, generator=g)
    fg = torch.randn(2, B, 9, D, generator=g)
    fl = torch.randn(3, B, 4, D, generator=g)
    pt = torch.randn(2, B, 9, K, generator=g).softmax(-1)
    ft = torch.randn(2, B, 9, D, generator=g)
    return sg, sl, fg, fl, pt, ft


def test_region_loss_equals_loop_reference():
    g = torch.Generator().manual_seed(2)
    sg, sl, fg, fl, pt, ft = _views(g)
    loss = MultiCropDistillLoss(out_channels=11, student_temp=0.1,
                                region=True)
    got = loss([sg, sl], pt, [fg, fl], ft)
    ref = loop_region_loss_reference(
        list(sg) + list(sl), list(pt), list(fg) + list(fl), list(ft), 0.1)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    # 2 teacher views x (5 student views - itself) = 8 pairs


def test_image_loss_equals_pair_loop():
    g = torch.Generator().manual_seed(3)
    sg = torch.randn(2, 4, 6, generator=g)
    sl = torch.randn(3, 4, 6, generator=g)
    pt = torch.randn(2, 4, 6, generator=g).softmax(-1)
    loss = MultiCropDistillLoss(out_channels=6, student_temp=0.2)
    views = list(sg) + list(sl)
    terms = [soft_cross_entropy(views[v], pt[t], 0.2).mean()
             for t in range(2) for v in range(5) if v != t]
    torch.testing.assert_close(loss([sg, sl], pt), torch.stack(terms).mean())


def test_teacher_centring_and_sharpening():
    loss = MultiCropDistillLoss(out_channels=3, center_momentum=0.9)
    t1 = torch.tensor([[1., 2., 3.], [3., 2., 1.]])
    loss.update_center(t1)  # c = 0.9 * 0 + 0.1 * (2, 2, 2)
    torch.testing.assert_close(loss.center, torch.full((1, 3), 0.2))
    t2 = torch.tensor([[[4., 0., 2.]]])  # (B, N, K): mean over B and N
    loss.update_center(t2)
    torch.testing.assert_close(
        loss.center, torch.tensor([[0.58, 0.18, 0.38]]))
    p = loss.teacher_probs(torch.tensor([[1., 0., 0.]]), 0.5)
    want = F.softmax((torch.tensor([[1., 0., 0.]]) - loss.center) / 0.5, -1)
    torch.testing.assert_close(p, want)


def test_region_loss_needs_features():
    loss = MultiCropDistillLoss(out_channels=3, region=True)
    with pytest.raises(ValueError, match='student_feats'):
        loss([torch.zeros(2, 1, 2, 3)], torch.ones(2, 1, 2, 3) / 3)

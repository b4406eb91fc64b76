"""GaborTextureNeck: gate, zoom, statistics, fusion and ablations."""
import pytest
import torch
import torch.nn.functional as F

from mmfg.models.necks.gabor import (FilterCorrelationAttention, SoftHistogram,
                                     select_regions, zoom_regions)
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError


def _neck(**kw):
    cfg = dict(type='GaborTextureNeck', in_channels=16, num_filters=8,
               kernel_size=7)
    cfg.update(kw)
    return MODELS.build(cfg)


def _texture_image(size=112, box=(14, 63, 42, 91), seed=0):
    """Flat grey background with an oriented-stripe patch at ``box``
    (x1, y1, x2, y2 in pixels)."""
    img = torch.full((1, 3, size, size), 0.3)
    x1, y1, x2, y2 = box
    yy, xx = torch.meshgrid(
        torch.arange(y2 - y1).float(), torch.arange(x2 - x1).float(),
        indexing='ij')
    img[0, :, y1:y2, x1:x2] = 0.3 + torch.sin(0.9 * xx + 0.4 * yy)
    return img


def test_gate_selects_the_texture_patch():
    neck = _neck(gate_source='texture', gate_grid=16, crop_ratio=0.25)
    img = _texture_image()
    feat = torch.zeros(1, 16, 4, 4)
    boxes, scores = neck.select(feat, img)
    assert boxes.shape == (1, 3, 4) and scores.shape == (1, 3)
    patch = torch.tensor([14, 63, 42, 91]) / 112.
    # base scale: the 28-px window lies on the 28-px patch
    torch.testing.assert_close(boxes[0, 0], patch)
    # larger scales contain the patch
    for b in boxes[0, 1:]:
        assert (b[:2] <= patch[:2] + 1e-6).all()
        assert (b[2:] >= patch[2:] - 1e-6).all()
    # the same patch moved: the gate follows it
    img2 = _texture_image(box=(70, 7, 98, 35))
    boxes2, _ = neck.select(feat, img2)
    torch.testing.assert_close(boxes2[0, 0],
                               torch.tensor([70, 7, 98, 35]) / 112.)


def test_gate_on_feature_activation():
    neck = _neck(gate_source='feature', gate_grid=8, crop_ratio=0.25,
                 scales=(1.0, ))
    feat = torch.zeros(2, 16, 8, 8)
    feat[0, :, 1:3, 5:7] = 1.0
    feat[1, :, 6:8, 0:2] = 1.0
    boxes, _ = neck.select(feat, torch.zeros(2, 3, 64, 64))
    torch.testing.assert_close(
        boxes[:, 0], torch.tensor([[5, 1, 7, 3], [0, 6, 2, 8]]) / 8.)


def test_select_regions_suppresses_overlaps():
    score = torch.zeros(1, 8, 8)
    score[0, 0, 0] = 1.0
    score[0, 0, 1] = 0.9
    score[0, 6, 6] = 0.5
    boxes, scores = select_regions(score, [0.125], regions_per_scale=2,
                                   nms_iou=0.3)
    # 1x1 windows: the runner-up at (0, 1) does not overlap, so it is kept
    torch.testing.assert_close(boxes[0], torch.tensor(
        [[0, 0, 1, 1], [1, 0, 2, 1]]) / 8.)
    boxes, scores = select_regions(score, [0.25], regions_per_scale=2,
                                   nms_iou=0.3)
    # 2x2 windows: the best covers both peaks, the next kept is at (6, 6)
    torch.testing.assert_close(boxes[0], torch.tensor(
        [[0, 0, 2, 2], [5, 5, 7, 7]]) / 8.)
    torch.testing.assert_close(scores[0], torch.tensor([1.9 / 4, 0.5 / 4]))


def test_zoom_regions_is_crop_and_resize():
    img = torch.rand(2, 3, 16, 16)
    full = zoom_regions(img, torch.tensor([[[0., 0., 1., 1.]]] * 2), 16)
    torch.testing.assert_close(full, img)
    boxes = torch.tensor([[[0.25, 0.5, 0.75, 1.0]], [[0., 0., 0.5, 0.5]]])
    crops = zoom_regions(img, boxes, 8)
    torch.testing.assert_close(crops[0], img[0, :, 8:16, 4:12])
    torch.testing.assert_close(crops[1], img[1, :, 0:8, 0:8])
    # zoom x2 of a quarter = bilinear upsampling of that crop (away from
    # the crop's border, where the zoom sees the neighbouring pixels)
    up = zoom_regions(img[:1], boxes[:1], 16)
    ref = F.interpolate(img[:1, :, 8:16, 4:12], size=16, mode='bilinear',
                        align_corners=False)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])


def test_soft_histogram_matches_slow_reference():
    hist = SoftHistogram(num_channels=2, num_levels=5, lo=-1, hi=1)
    x = torch.rand(3, 2, 4, 4) * 2 - 1
    out = hist(x)
    ref = torch.zeros(3, 2, 5)
    for n in range(3):
        for f in range(2):
            for b in range(5):
                c = -1 + 0.5 * b
                ref[n, f, b] = sum(max(0., 1 - abs(v - c) / 0.5)
                                   for v in x[n, f].flatten().tolist()) / 16
    torch.testing.assert_close(out, ref)
    # triangular bins with half overlap are a partition of unity in [lo, hi]
    torch.testing.assert_close(out.sum(-1), torch.ones(3, 2))


def test_correlation_attention_identity_when_filters_uncorrelated():
    att = FilterCorrelationAttention(dim=3)
    with torch.no_grad():
        att.log_tau.fill_(10.0)
    z = torch.zeros(1, 2, 4)
    z[0, 0] = torch.tensor([1., -1., 1., -1.])
    z[0, 1] = torch.tensor([1., 1., -1., -1.])  # orthogonal, unit power
    tokens = torch.randn(1, 2, 3)
    out = att(tokens, z)
    # softmax(e^10 * I) ~ I: each token attends to itself
    torch.testing.assert_close(out, tokens + att.proj(tokens))


def test_forward_backward_gradients_reach_gabor_parameters():
    neck = _neck()
    feat = torch.randn(2, 16, 4, 4, requires_grad=True)
    img = torch.randn(2, 3, 64, 64)
    out, = neck((feat, ), images=img)
    assert out.shape == (2, 16)
    out.pow(2).sum().backward()
    for name in ('raw_theta', 'raw_freq', 'raw_sigma_x', 'raw_sigma_y'):
        g = getattr(neck.bank, name).grad
        assert g is not None and g.abs().sum() > 0, name
    assert neck.hist.centres.grad.abs().sum() > 0
    assert neck.attn.log_tau.grad.abs() > 0
    assert feat.grad.abs().sum() > 0


def test_fusion_adds_texture_to_pooled_cnn_feature():
    neck = _neck()
    feat = torch.randn(2, 16, 4, 4)
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        neck.fuse.weight.zero_()
        neck.fuse.bias.zero_()
        out, = neck((feat, ), images=img)
        torch.testing.assert_close(out, feat.mean(dim=(2, 3)))
        neck.fuse.bias.fill_(1.0)
        neck.region_gate.weight.zero_()
        neck.region_gate.bias.zero_()  # gate = 0.5 on every region
        out, = neck((feat, ), images=img)
        torch.testing.assert_close(out, feat.mean(dim=(2, 3)) + 0.5)


def test_ablation_switches():
    full = _neck()
    assert full.texture_dim == 8 * 10
    fixed = _neck(learnable_filters=False)
    assert not any(n.startswith('bank.') for n, _ in fixed.named_parameters())
    nosplit = _neck(frequency_split=False)
    lo, hi = nosplit.bank.freq_range()
    assert (lo == 0).all() and torch.allclose(hi, hi[:1].expand_as(hi))
    nohist = _neck(histogram=False)
    assert nohist.hist is None and nohist.texture_dim == 8 * 2
    nocorr = _neck(correlation=False, histogram=False)
    assert nocorr.attn is None
    crops = torch.randn(3, 3, 20, 20)
    # without histogram and correlation the vector is [mean, log std]
    r = nocorr.bank(crops).flatten(2)
    ref = torch.stack([r.mean(2), 0.5 * torch.log(
        r.var(2, unbiased=False) + 1e-6)], dim=2).flatten(1)
    torch.testing.assert_close(nocorr.texture_features(crops), ref)
    for neck in (fixed, nosplit, nohist, nocorr):
        out, = neck((torch.randn(2, 16, 4, 4), ), images=torch.randn(
            2, 3, 64, 64))
        assert out.shape == (2, 16)


def test_errors_name_the_fix():
    with pytest.raises(ConfigError, match='ImageNeckClassifier'):
        _neck()((torch.randn(1, 16, 4, 4), ))
    with pytest.raises(ConfigError, match='gate_source'):
        _neck(gate_source='cam')
    with pytest.raises(ConfigError, match='crop_ratio'):
        _neck(crop_ratio=0.6, scales=(1.0, 2.0))


def test_soft_histogram_backward_equals_autograd_reference():
    torch.manual_seed(0)
    hist = SoftHistogram(num_channels=3, num_levels=8).double()
    with torch.no_grad():
        hist.centres.add_(0.1 * torch.randn_like(hist.centres))
        hist.inv_widths.mul_(torch.rand_like(hist.inv_widths) + 0.5)
        hist.inv_widths[0, 0] *= -1  # the sign of the raw width is free
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 8, dtype=torch.float64)
    grads = []
    for fn in (hist, hist.reference):
        hist.zero_grad()
        x.grad = None
        out = fn(x)
        (out * g).sum().backward()
        grads.append((out.detach(), x.grad.clone(),
                      hist.centres.grad.clone(),
                      hist.inv_widths.grad.clone()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    torch.autograd.gradcheck(
        lambda t: hist(t), (x.detach().requires_grad_(True), ))

"""CCTHead: concept streams, losses, predictions, explanations, errors."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.models.losses import explanation_mse
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

D, A = 12, 28  # token size, SynthBirds attributes


def _head(**kw):
    cfg = dict(type='CCTHead', num_classes=4, in_channels=D,
               concept_mapping='synthbirds', num_heads=2, attn_drop=0.,
               proj_drop=0.)
    cfg.update(kw)
    return MODELS.build(cfg)


def _samples(B=2, hw=(32, 32), attrs=A, parts=True):
    out = []
    g = torch.Generator().manual_seed(0)
    for b in range(B):
        ds = DataSample(metainfo=dict(img_shape=hw)).set_gt_label(b)
        a = torch.zeros(attrs)
        a[torch.randperm(attrs, generator=g)[:6]] = 1
        ds.set_field(a, 'attributes')
        if parts:
            p = torch.rand(15, 3, generator=g) * hw[0]
            p[:, 2] = 1
            ds.set_field(p, 'gt_parts')
        out.append(ds)
    return out


def _tokens(B=2, n=16):
    return (torch.randn(B, 1 + n, D, generator=torch.Generator().manual_seed(
        1)), )


def test_streams_and_logits():
    torch.manual_seed(0)
    head = _head().eval()
    assert (head.num_global, head.num_spatial) == (28, 28)
    feats = _tokens()
    out = head.forward_concepts(feats)
    assert out['global_attn'].shape == (2, 28)
    assert out['spatial_attn'].shape == (2, 16, 28)
    assert torch.allclose(out['global_attn'].sum(-1), torch.ones(2))
    assert torch.allclose(out['spatial_attn'].sum(-1), torch.ones(2, 16))
    # logits = global output (class token) + spatial outputs averaged
    x = feats[0]
    concepts = head.slot_attention(x[:, :1])[0] + head.slot_pos
    g_out, _ = head.global_attention(x[:, :1], concepts)
    s_out, _ = head.spatial_attention(x[:, 1:], head.spatial_concepts)
    assert torch.allclose(out['logits'], g_out[:, 0] + s_out.mean(1),
                          atol=1e-6)
    # one stream only
    only = _head(num_global_concepts=0).eval()
    o = only.forward_concepts(feats)
    assert o['global_attn'] is None and o['spatial_attn'] is not None


def test_loss_values_and_gradients_reach_concepts():
    torch.manual_seed(0)
    head = _head()
    head.train()
    feats = _tokens()
    samples = _samples()
    torch.manual_seed(3)
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_cls', 'loss_expl', 'loss_sparsity'}
    torch.manual_seed(3)  # same slot noise
    out = head.forward_concepts(feats)
    t = head.concept_targets(samples, 16, 'cpu')
    expect = explanation_mse(out['global_attn'], t['global_target'],
                             t['global_valid']) + explanation_mse(
                                 out['spatial_attn'], t['spatial_target'],
                                 t['spatial_valid'])
    assert torch.allclose(losses['loss_expl'], expect)
    assert t['spatial_valid'].any() and t['global_valid'].all()
    losses['loss_expl'].backward()
    for name in ('slot_pos', 'spatial_concepts', 'slot_attention.slot_mu',
                 'slot_attention.to_q.weight', 'global_attention.kv.weight',
                 'spatial_attention.q.weight'):
        grad = dict(head.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_predict_and_explain():
    torch.manual_seed(0)
    head = _head().eval()
    feats = _tokens()
    samples = _samples()
    preds = head.predict(feats, samples)
    out = head.forward_concepts(feats)
    assert torch.allclose(preds[0].concept_scores, out['global_attn'][0])
    assert torch.allclose(preds[1].spatial_concept_scores,
                          out['spatial_attn'][1].mean(0))
    expl = head.explain(feats, samples, topk=3, classes=list('abcd'))
    e = expl[1]
    assert e['type'] == 'cct' and e['grid'] == [4, 4]
    assert e['gt_label'] == 1 and e['classes'][0]['name'] in 'abcd'
    assert e['global_concepts'][0]['name'] == 'has_crown_color::red' or \
        e['global_concepts'][0]['score'] >= e['global_concepts'][1]['score']
    assert len(e['spatial_concepts']) == 3
    assert e['spatial_concepts'][0]['heatmap'].shape == (32, 32)
    best = out['spatial_attn'][1].mean(0).argmax().item()
    assert e['spatial_concepts'][0]['index'] == best


def test_errors():
    head = _head()
    feats = _tokens()
    with pytest.raises(ConfigError, match='312 attributes per image'):
        head.loss(feats, _samples(attrs=312))
    with pytest.raises(ConfigError, match='with_attributes=True'):
        samples = _samples()
        for s in samples:
            del s.attributes
        head.loss(feats, samples)
    with pytest.raises(ConfigError, match='with_parts'):
        head.loss(feats, _samples(parts=False))
    with pytest.raises(ConfigError, match="out_type='raw'"):
        head(torch.randn(2, D, 4, 4))
    with pytest.raises(ConfigError, match='defines 28'):
        _head(num_spatial_concepts=5)
    with pytest.raises(ConfigError, match='do not tile'):
        head.loss(feats, _samples(hw=(32, 48)))
    # unsupervised concepts need their numbers, and then train without
    # attributes
    with pytest.raises(ConfigError, match='needed'):
        _head(concept_mapping=None)
    free = _head(concept_mapping=None, num_global_concepts=3,
                 num_spatial_concepts=2)
    assert set(free.loss(feats, _samples(attrs=5))) == {
        'loss_cls', 'loss_sparsity'
    }

"""AttributeCVAE: the Gaussian KL (hand-checked), the beta-ELBO, the
attribute conditions (certainty filter, class level), sampling, configs."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.structures import DataSample

from mmfg.registry import METRICS, MODELS
from mmfg.utils.errors import ConfigError
from projects.attr_cvae.attr_cvae import AttributeCVAE, gaussian_kl
from projects.attr_cvae.attr_cvae.conditions import edit_attributes

CFG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                   'configs')


def _model(**kw):
    torch.manual_seed(0)
    cfg = dict(type='AttributeCVAE', num_attributes=3, image_size=16,
               latent_dim=4, base_channels=8, hidden_dim=16, embed_dim=8)
    cfg.update(kw)
    return MODELS.build(cfg)


def _samples(attrs, cert=None, labels=None):
    out = []
    for i, a in enumerate(attrs):
        ds = DataSample()
        ds.set_field(np.asarray(a, np.float32), 'attributes')
        if cert is not None:
            ds.set_field(np.asarray(cert[i]), 'attribute_certainty')
        if labels is not None:
            ds.set_gt_label(labels[i])
        out.append(ds)
    return out


def test_gaussian_kl_hand_checked():
    # q = N(1, 1), p = N(0, 4): 0.5 * (ln 4 + (1 + 1) / 4 - 1)
    kl = gaussian_kl(torch.tensor([[1.]]), torch.tensor([[0.]]),
                     torch.tensor([[0.]]), torch.tensor([[math.log(4.)]]))
    assert kl.item() == pytest.approx(0.5 * (math.log(4) + 0.5 - 1))
    # two dims add up; KL(q || q) = 0
    mu, lv = torch.tensor([[1., -2.]]), torch.tensor([[0.3, -1.]])
    assert gaussian_kl(mu, lv, mu, lv).item() == pytest.approx(0, abs=1e-7)
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(5, 3, generator=g) for _ in range(4))
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, (0.5 * lq).exp()),
        torch.distributions.Normal(mp, (0.5 * lp).exp())).sum(-1)
    assert torch.allclose(gaussian_kl(mq, lq, mp, lp), ref, atol=1e-5)


def test_certainty_filter_and_class_level(tmp_path):
    model = _model(min_certainty=2, uncertain_value=0.5)
    samples = _samples([[1, 0, 1], [0, 1, 1]], cert=[[4, 1, 2], [1, 3, 4]])
    y = model.attributes_of(samples, torch.device('cpu'))
    assert y.tolist() == [[1, 0.5, 1], [0.5, 1, 1]]
    path = tmp_path / 'class_attribute_labels_continuous.txt'
    path.write_text('0 50 100\n25 0 75\n')
    cls = _model(attribute_source='class', class_attributes_file=str(path))
    y = cls.attributes_of(
        _samples([[0, 0, 0]] * 2, labels=[1, 0]), torch.device('cpu'))
    assert torch.allclose(y, torch.tensor([[.25, 0, .75], [0, .5, 1.]]))
    with pytest.raises(ConfigError, match='num_attributes=4'):
        _model(num_attributes=4).attributes_of(samples, torch.device('cpu'))
    with pytest.raises(KeyError, match='attribute_certainty'):
        model.attributes_of(_samples([[1, 0, 1]]), torch.device('cpu'))
    with pytest.raises(ConfigError, match='class_attributes_file'):
        _model(attribute_source='class')
    with pytest.raises(ConfigError, match='multiple of 8'):
        _model(image_size=20)


def test_beta_elbo_terms():
    x = torch.rand(2, 3, 16, 16)
    samples = _samples([[1, 0, 1], [0, 1, 0]])
    m1, m2 = _model(beta=1.), _model(beta=2.5)
    m1.train(), m2.train()
    torch.manual_seed(1)
    l1 = m1(x, samples, mode='loss')
    torch.manual_seed(1)
    l2 = m2(x, samples, mode='loss')
    assert torch.allclose(l2['loss_kl'], 2.5 * l1['loss_kl'])
    assert torch.allclose(l2['loss_recon'], l1['loss_recon'])
    # eval: z = posterior mean; recon_nll is the summed BCE of the decoder
    m1.eval()
    y = m1.attributes_of(samples, x.device)
    e = m1.embed(y)
    h = m1.encoder(x * 2 - 1)
    mu_q = m1.recognition(torch.cat([h, e], -1))[:, :4]
    logits = m1.decode(mu_q, e)
    bce = F.binary_cross_entropy_with_logits(
        logits, x, reduction='none').flatten(1).sum(-1)
    # the preprocessor turns BGR (as loaded) into RGB and divides by 255
    out = m1.test_step(
        dict(inputs=list(x.flip(1) * 255), data_samples=samples))
    nll = torch.stack([o.recon_nll for o in out])
    kl = torch.stack([o.kl for o in out])
    assert torch.allclose(nll, bce, rtol=1e-4)
    assert torch.allclose(torch.stack([o.elbo for o in out]), -(nll + kl))
    assert (kl >= 0).all()
    metric = METRICS.build(dict(type='ELBOMetric'))
    metric.process({}, [o.to_dict() for o in out])
    res = metric.evaluate(2)
    assert res['cvae/elbo'] == pytest.approx(-(nll + kl).mean().item(),
                                             rel=1e-5)


def test_training_reduces_loss():
    model = _model()
    attrs = torch.tensor([[1., 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    # images whose colour is the attribute vector (learnable from y)
    x = (0.1 + 0.8 * attrs)[:, :, None, None].expand(4, 3, 16, 16)
    samples = _samples(attrs.tolist())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for step in range(30):
        torch.manual_seed(step)
        loss = sum(model(x, samples, mode='loss').values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


def test_sampling():
    model = _model().eval()
    y = torch.tensor([[1., 0, 1], [0, 1, 0]])
    a = model.sample(y, 3, generator=torch.Generator().manual_seed(0))
    b = model.sample(y, 3, generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 3, 3, 16, 16) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert not torch.allclose(a[0], a[1])  # the condition changes samples
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        model.sample(torch.zeros(2, 5))


def test_edit_attributes_is_exclusive_per_group():
    names = ['has_crown_color::red', 'has_crown_color::blue',
             'has_wing_pattern::plain']
    y = edit_attributes(np.array([0.7, 0.3, 0.2]), names,
                        ['has_crown_color::blue', 'has_wing_pattern::plain'])
    assert y.tolist() == [0., 1., 1.]
    with pytest.raises(ConfigError, match='has_crown_color::red'):
        edit_attributes(np.zeros(3), names, ['has_crown_color::pink'])


@pytest.mark.parametrize('name', ['attr-cvae_conv_synthbirds.py',
                                  'attr-cvae_conv_cub.py'])
def test_configs_build(name):
    cfg = Config.fromfile(osp.join(CFG_DIR, name))
    model = MODELS.build(cfg.model)
    assert isinstance(model, AttributeCVAE)
    assert model.num_attributes in (28, 312)
    assert cfg.train_dataloader.dataset.with_attributes

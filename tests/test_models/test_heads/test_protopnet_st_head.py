"""ST-ProtoPNet head: branches, alternating vs joint update,
renormalisation."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

import mmfg.models  # noqa: F401
from mmfg.registry import MODELS


def _build(**kw):
    cfg = dict(type='STProtoPNetHead', num_classes=3, in_channels=8,
               prototypes_per_class=2, prototype_dim=4, upsample_factor=2)
    cfg.update(kw)
    with DefaultScope.overwrite_default_scope('mmfg'):
        return MODELS.build(cfg)


def _samples(labels):
    return [DataSample(metainfo=dict(img_shape=(32, 32))).set_gt_label(c)
            for c in labels]


def test_branches_logits_and_cosine_maps():
    torch.manual_seed(0)
    head = _build()
    feats = (torch.randn(2, 8, 3, 3), )
    t, s = head.trivial(feats), head.support(feats)
    assert t['maps'].shape == (2, 6, 6, 6)  # upsampled x2
    torch.testing.assert_close(head(feats), t['logits'] + s['logits'])
    for layer in (head.trivial, head.support):
        torch.testing.assert_close(layer.prototypes.norm(dim=1),
                                   torch.ones(6))
        w = layer.last_layer.weight
        assert torch.equal(w, torch.tensor([[1., 1, -.5, -.5, -.5, -.5],
                                            [-.5, -.5, 1, 1, -.5, -.5],
                                            [-.5, -.5, -.5, -.5, 1, 1]]))
    z = head.trivial.latent(feats)
    ref = F.relu(torch.einsum('bdhw,pd->bphw', F.normalize(z, dim=1),
                              F.normalize(head.trivial.prototypes, dim=1)))
    torch.testing.assert_close(t['maps'], ref)
    assert head.pre_logits(feats).shape == (2, 12)


def test_alternate_update_mode_switches_branches():
    head = _build(update_mode='alternate')
    feats = (torch.randn(4, 8, 3, 3), )
    samples = _samples([0, 1, 2, 0])
    keys = [set(head.loss(feats, samples)) for _ in range(3)]
    assert keys[0] == {
        'loss_trivial_ce', 'loss_trivial_cluster', 'loss_trivial_separation',
        'loss_trivial_orth', 'loss_trivial_discrimination', 'loss_trivial_l1'
    }
    assert keys[1] == {
        'loss_support_ce', 'loss_support_cluster', 'loss_support_separation',
        'loss_support_orth', 'loss_support_closeness', 'loss_support_l1'
    }
    assert keys[2] == keys[0]
    # only the active branch gets gradients
    head.zero_grad()
    losses = head.loss(feats, samples)  # support (4th call)
    sum(losses.values()).backward()
    assert head.trivial.prototypes.grad is None
    assert head.support.prototypes.grad.abs().sum() > 0


def test_joint_update_mode_sums_both_branches():
    torch.manual_seed(0)
    head = _build(update_mode='joint', cal_acc=True)
    feats = (torch.randn(4, 8, 3, 3), )
    samples = _samples([0, 1, 2, 0])
    losses = head.loss(feats, samples)
    assert any(k.startswith('loss_trivial') for k in losses)
    assert any(k.startswith('loss_support') for k in losses)
    labels = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(
        losses['loss_trivial_ce'],
        F.cross_entropy(head.trivial(feats)['logits'], labels))
    sim = head.support(feats)['sim']
    own = sim.view(4, 3, 2)[torch.arange(4), labels].max(1).values
    torch.testing.assert_close(losses['loss_support_cluster'],
                               -0.8 * own.mean())
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert head.trivial.prototypes.grad is not None
    assert head.support.prototypes.grad is not None


def test_predict_concatenates_branches_and_renormalize():
    head = _build()
    feats = (torch.randn(2, 8, 3, 3), )
    pred = head.predict(feats, _samples([0, 1]))
    assert pred[0].proto_sim.shape == (12, )
    assert pred[0].proto_loc.shape == (12, 2)
    assert pred[0].proto_class.tolist() == [0, 0, 1, 1, 2, 2] * 2
    with torch.no_grad():
        head.trivial.prototypes.mul_(3)
    head.renormalize_prototypes_()
    torch.testing.assert_close(head.trivial.prototypes.norm(dim=1),
                               torch.ones(6))
    expl = head.explain(feats, _samples([0, 1]))
    assert expl[0]['type'] == 'st_protopnet'
    assert {p['branch'] for c in expl[0]['classes']
            for p in c['prototypes']} <= {'trivial', 'support'}


def test_bad_update_mode():
    with pytest.raises(ValueError, match='update_mode'):
        _build(update_mode='both')

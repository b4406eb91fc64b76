"""MutualMetricLearner (DMML): per-member seeds, view assignment, losses
against hand-assembled references, update intervals, EMA teachers,
ensemble prediction, resumable iteration count; the multi-view data
preprocessor."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmfg.models.losses.relational_losses import RKDLoss
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

MEMBER = dict(
    backbone=dict(type='ResNet', depth=18, base_channels=4, stem_channels=4,
                  out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='EmbeddingHead', in_channels=32, embed_dim=6,
              normalize=True,
              loss=dict(type='TripletLoss', margin=0.2, miner='all')))


def _model(**kw):
    cfg = dict(type='MutualMetricLearner', members=MEMBER, num_members=2)
    cfg.update(kw)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _batch(b=8, views=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, views, 3, 32, 32, generator=g)
    samples = [DataSample().set_gt_label(i % 4) for i in range(b)]
    labels = torch.tensor([i % 4 for i in range(b)])
    return x, samples, labels


def _params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_seeds_give_model_diversity():
    model = _model(num_members=3, seeds=(5, 6, 5))
    p = [_params(m) for m in model.members]
    assert torch.equal(p[0], p[2])  # same seed, same init
    assert not torch.allclose(p[0], p[1])
    with pytest.raises(ConfigError, match='seeds has 2 entries'):
        _model(num_members=3, seeds=(0, 1))


def test_losses_equal_hand_assembled_reference():
    model = _model()
    x, samples, labels = _batch()
    losses = model(x, samples, mode='loss')
    assert set(losses) == {'loss_metric_0', 'loss_rkd_0', 'loss_metric_1',
                           'loss_rkd_1'}
    # member k on view k; BN in train mode on the same batch -> same output
    e0 = model.members[0](x[:, 0])
    e1 = model.members[1](x[:, 1])
    trip = model.members[0].head.loss_module
    rkd = RKDLoss()
    assert torch.allclose(losses['loss_metric_0'], trip(e0, labels))
    assert torch.allclose(losses['loss_metric_1'], trip(e1, labels))
    assert torch.allclose(losses['loss_rkd_0'], rkd(e0, e1), atol=1e-6)
    assert torch.allclose(losses['loss_rkd_1'], rkd(e1, e0), atol=1e-6)
    # the transfer loss trains the student only
    model.zero_grad()
    losses['loss_rkd_0'].backward()
    assert all(p.grad is None or not p.grad.any()
               for p in model.members[1].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.members[0].parameters())


def test_update_intervals_and_resumable_iteration():
    model = _model(update_intervals=(1, 2))
    x, samples, _ = _batch()
    for it in range(4):
        model.zero_grad(set_to_none=True)
        losses = model(x, samples, mode='loss')
        active1 = it % 2 == 0
        assert ('loss_metric_1' in losses) == active1
        sum(losses.values()).backward()
        got_grad = any(p.grad is not None for p in
                       model.members[1].parameters())
        assert got_grad == active1
    assert model.iteration == 4
    state = model.state_dict()
    fresh = _model(update_intervals=(1, 2))
    fresh.load_state_dict(state)
    assert fresh.iteration == 4


def test_ema_teacher_update_and_use():
    model = _model(ema_momentum=(None, 0.9), transfer_weight=0.5)
    assert set(model.ema_members.keys()) == {'1'}
    ema = model.ema_members['1']
    assert torch.equal(_params(ema), _params(model.members[1]))
    old = _params(ema)
    with torch.no_grad():
        for p in model.members[1].parameters():
            p.add_(1.0)
    live = _params(model.members[1])
    x, samples, _ = _batch()
    losses = model(x, samples, mode='loss')  # updates the EMA first
    assert torch.allclose(_params(ema), 0.9 * old + 0.1 * live, atol=1e-6)
    assert not any(p.requires_grad for p in ema.parameters())
    # member 0 learns from the EMA copy of member 1 (weight 0.5)
    e0 = model.members[0](x[:, 0])
    with torch.no_grad():
        t1 = ema(x[:, 1])
    assert torch.allclose(losses['loss_rkd_0'], 0.5 * RKDLoss()(e0, t1),
                          atol=1e-6)
    with pytest.raises(ConfigError, match='ema_momentum'):
        _model(ema_momentum=1.5)


def test_predict_members_and_ensemble():
    model = _model(num_members=3).eval()
    x, _, _ = _batch(b=5, views=1)
    x = x[:, 0]
    preds = model(x, None, mode='predict')
    embs = [m(x) for m in model.members]
    ens = torch.cat([F.normalize(e, dim=-1) for e in embs], -1)
    for i, ds in enumerate(preds):
        for k in range(3):
            assert torch.allclose(ds.get(f'embedding_{k}'), embs[k][i],
                                  atol=1e-6)
        assert torch.allclose(ds.embedding, ens[i], atol=1e-6)
    assert preds[0].embedding.shape == (18, )


def test_single_member_has_no_transfer():
    model = _model(num_members=1)
    x, samples, _ = _batch(views=1)
    assert model.transfer is None
    assert set(model(x, samples, mode='loss')) == {'loss_metric_0'}


def test_multiview_data_preprocessor():
    pre = MODELS.build(
        dict(type='MultiViewClsDataPreprocessor', mean=[1., 2., 3.],
             std=[2., 2., 2.], to_rgb=True))
    g = torch.Generator().manual_seed(0)
    views = [[torch.randint(0, 255, (3, 4, 4), generator=g,
                            dtype=torch.uint8) for _ in range(2)]
             for _ in range(3)]  # pseudo_collate: V lists of B images
    samples = [DataSample().set_gt_label(0), DataSample().set_gt_label(1)]
    out = pre(dict(inputs=views, data_samples=samples))
    assert out['inputs'].shape == (2, 3, 3, 4, 4)
    mean = torch.tensor([1., 2., 3.]).view(3, 1, 1)
    expect = (views[2][1].flip(0).float() - mean) / 2
    assert torch.allclose(out['inputs'][1, 2], expect)
    single = pre(dict(inputs=views[0], data_samples=samples))['inputs']
    assert single.shape == (2, 3, 4, 4)
    assert torch.allclose(single, out['inputs'][:, 0])

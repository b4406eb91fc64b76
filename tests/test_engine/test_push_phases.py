"""Training phases of prototype networks on the MMEngine Runner: warm-up
(backbone frozen), joint, push at the configured epoch, last-layer-only
optimisation; ST-ProtoPNet's renormalisation after every step."""
import copy
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from push_helpers import tiny_model_cfg

from mmfg.registry import HOOKS


def _snapshot(model):
    head = model.head
    layers = head.prototype_layers()
    return dict(
        backbone=[p.detach().clone() for p in model.backbone.parameters()],
        add_on=[p.detach().clone() for lay in layers.values()
                for p in lay.add_on.parameters()],
        prototypes=[
            lay.prototypes.detach().clone() for lay in layers.values()
        ],
        last=[
            lay.last_layer.weight.detach().clone()
            for lay in layers.values()
        ])


def _grad_flags(model):
    layers = model.head.prototype_layers().values()
    return dict(
        backbone=all(p.requires_grad for p in model.backbone.parameters()),
        add_on=all(p.requires_grad for lay in layers
                   for p in lay.add_on.parameters()),
        prototypes=all(lay.prototypes.requires_grad for lay in layers),
        last=any(lay.last_layer.weight.requires_grad for lay in layers))


@HOOKS.register_module(force=True)
class _PhaseProbe(Hook):
    """Records flags per iteration and snapshots around each epoch end."""

    def __init__(self, tag: str, store: dict, priority='NORMAL'):
        self.tag = tag
        self.store = store
        self.priority = priority

    def before_train(self, runner):
        self.store.setdefault('init', _snapshot(runner.model))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self.tag == 'early':
            self.store.setdefault('flags', []).append(
                (runner.epoch, _grad_flags(runner.model)))
            norms = [lay.prototypes.detach().norm(dim=1)
                     for lay in runner.model.head.prototype_layers().values()
                     if lay.normalize_prototypes]
            self.store.setdefault('norms', []).extend(norms)

    def after_train_epoch(self, runner):
        self.store.setdefault(self.tag, {})[runner.epoch] = dict(
            snap=_snapshot(runner.model), flags=_grad_flags(runner.model),
            lrs=[g['lr'] for g in runner.optim_wrapper.param_groups])


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def _runner(tmp_path, head, store, last_layer_epochs=2):
    data = dict(type='TinyProtoDataset', num_classes=3, per_class=6)
    loader = dict(batch_size=6, num_workers=0, dataset=data,
                  sampler=dict(type='DefaultSampler', shuffle=True))
    push_loader = dict(batch_size=5, num_workers=0, dataset=data,
                       sampler=dict(type='DefaultSampler', shuffle=False))
    hooks = [
        dict(type='FreezeModulesHook', modules=['backbone'], until_epoch=1),
        dict(type='PrototypePushHook', dataloader=push_loader,
             push_epochs=[2], last_layer_epochs=last_layer_epochs,
             last_layer_lr=5e-3, gallery=True),
        dict(type='_PhaseProbe', tag='early', store=store,
             priority='NORMAL'),
        dict(type='_PhaseProbe', tag='late', store=store, priority='LOW'),
    ]
    if head == 'STProtoPNetHead':
        hooks.append(dict(type='PrototypeRenormHook'))
    return Runner(
        model=tiny_model_cfg(head),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=3),
        optim_wrapper=dict(
            optimizer=dict(type='Adam', lr=3e-3, weight_decay=1e-3),
            paramwise_cfg=dict(custom_keys={
                'backbone': dict(lr_mult=1 / 30),
                'prototypes': dict(decay_mult=0.),
                'last_layer': dict(lr_mult=1 / 30, decay_mult=0.),
            })),
        custom_hooks=hooks,
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='mmfg',
        randomness=dict(seed=0),
        log_level='WARNING')


@pytest.mark.parametrize('head', ['ProtoPNetHead', 'STProtoPNetHead'])
def test_phase_schedule_freezes_and_unfreezes(tmp_path, head):
    store = {}
    runner = _runner(tmp_path, head, store)
    runner.train()
    init = store['init']
    flags = store['flags']
    # warm-up (epoch 0): backbone and last layer frozen, the rest trains
    warm = [f for e, f in flags if e == 0]
    joint = [f for e, f in flags if e > 0]
    assert warm and all(
        f == dict(backbone=False, add_on=True, prototypes=True, last=False)
        for f in warm)
    assert joint and all(
        f == dict(backbone=True, add_on=True, prototypes=True, last=False)
        for f in joint)
    early, late = store['early'], store['late']
    # warm-up left the backbone untouched, trained add-on and prototypes
    assert _same(early[0]['snap']['backbone'], init['backbone'])
    assert not _same(early[0]['snap']['add_on'], init['add_on'])
    assert not _same(early[0]['snap']['prototypes'], init['prototypes'])
    # joint epoch 1 trained the backbone; the last layer never moved
    assert not _same(early[1]['snap']['backbone'], early[0]['snap']
                     ['backbone'])
    for e in (0, 1):
        assert _same(early[e]['snap']['last'], init['last'])
    # push after the 2nd epoch (runner.epoch == 1): prototypes projected,
    # then last-layer-only: backbone / add-on untouched, last layer trained
    before, after = early[1]['snap'], late[1]['snap']
    assert _same(after['backbone'], before['backbone'])
    assert _same(after['add_on'], before['add_on'])
    assert not _same(after['prototypes'], before['prototypes'])
    assert not _same(after['last'], before['last'])
    # flags and learning rates are restored after the phase
    assert late[1]['flags'] == dict(backbone=True, add_on=True,
                                    prototypes=True, last=False)
    assert late[1]['lrs'] == early[1]['lrs']
    # epoch 2 (no push) keeps the last layer fixed again
    assert _same(early[2]['snap']['last'], after['last'])
    # the pushed prototypes sit on their recorded patches
    recs = runner.model.head.push_records
    assert recs['epoch'] == 2
    assert all(r['pushed'] for b in recs['branches'].values() for r in b)
    assert osp.isfile(
        osp.join(str(tmp_path), 'prototypes', 'epoch_2', 'prototypes.json'))
    if head == 'STProtoPNetHead':
        norms = torch.cat(store['norms'])
        torch.testing.assert_close(norms, torch.ones_like(norms))


def test_last_layer_phase_needs_the_last_layer_in_the_optimizer(tmp_path):
    from mmfg.engine.hooks.last_layer import train_last_layer
    from mmfg.utils.errors import ConfigError
    store = {}
    runner = _runner(tmp_path, 'ProtoPNetHead', store)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    opt = copy.deepcopy(runner.optim_wrapper)
    opt['paramwise_cfg'] = None
    model = runner.model
    params = [p for n, p in model.named_parameters()
              if 'last_layer' not in n]
    runner.optim_wrapper = runner.build_optim_wrapper(
        dict(optimizer=torch.optim.Adam(params, lr=1e-3)))
    with pytest.raises(ConfigError, match='last-layer'):
        train_last_layer(runner, 1, 1e-4)


def test_prune_hook_on_the_runner(tmp_path):
    from push_helpers import TinyProtoDataset, tiny_loader

    from mmfg.engine.hooks.prune_hook import find_nearest_images
    data = dict(type='TinyProtoDataset', num_classes=3, per_class=6)
    loader = dict(batch_size=6, num_workers=0, dataset=data,
                  sampler=dict(type='DefaultSampler', shuffle=True))
    push_loader = dict(batch_size=5, num_workers=0, dataset=data,
                       sampler=dict(type='DefaultSampler', shuffle=False))
    store = {}
    runner = Runner(
        model=tiny_model_cfg('ProtoPNetHead'),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        custom_hooks=[
            dict(type='_PhaseProbe', tag='early', store=store),
            dict(type='PrototypePruneHook', dataloader=push_loader,
                 prune_epochs=[1], k=6, threshold=2, last_layer_epochs=1,
                 last_layer_lr=1e-2),
            dict(type='_PhaseProbe', tag='late', store=store,
                 priority='VERY_LOW'),
        ],
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='mmfg',
        randomness=dict(seed=0),
        log_level='WARNING')
    runner.train()
    before, after = store['early'][0]['snap'], store['late'][0]['snap']
    layer = runner.model.head.layer
    # the reference decision, recomputed on the trained (pre-prune) model
    # weights: prototypes and add-on are untouched by pruning
    assert _same(before['prototypes'], after['prototypes'])
    nearest = find_nearest_images(runner.model,
                                  tiny_loader(TinyProtoDataset(3, 6), 5),
                                  k=6)['']
    own = (nearest['label'] == layer.prototype_class[:, None]).sum(1)
    assert layer.prototype_valid.tolist() == (own >= 2).tolist()
    pruned = ~layer.prototype_valid
    assert pruned.any() and (layer.last_weight[:, pruned] == 0).all()
    # pruned columns never reach the logits
    x = runner.model.extract_feat(torch.randn(2, 3, 32, 32))
    with torch.no_grad():
        ref = layer(x)['logits']
        layer.last_layer.weight[:, pruned] += 5.0
        torch.testing.assert_close(layer(x)['logits'], ref)
    # the last layer trained after pruning (on the kept columns)
    keep = layer.prototype_valid
    assert not torch.equal(after['last'][0][:, keep],
                           before['last'][0][:, keep])
    assert _same(after['backbone'], before['backbone'])


def test_stability_hook_adds_deterministic_noisy_locations():
    from mmengine.dataset import pseudo_collate
    from push_helpers import TinyProtoDataset, build_tiny_model

    from mmfg.engine.hooks.prototype_hooks import PrototypeStabilityHook
    model = build_tiny_model().eval()
    ds = TinyProtoDataset(3, 2)

    runner = SimpleNamespace(model=model)
    batch = pseudo_collate([ds[i] for i in range(4)])
    PrototypeStabilityHook(std=0.0).before_test_iter(runner, 0, batch)
    with torch.no_grad():
        clean = model.test_step(batch)
    for ds_out, ds_in in zip(clean, batch['data_samples']):
        assert torch.equal(ds_out.proto_loc, ds_in.proto_loc_noisy)
    # the noise of an image depends on its sample_idx, not on its batch
    hook = PrototypeStabilityHook(std=0.2, clip=0.25, seed=3)
    b1 = pseudo_collate([ds[i] for i in range(4)])
    b2 = pseudo_collate([ds[i] for i in (3, 1)])
    hook.before_test_iter(runner, 0, b1)
    hook.before_test_iter(runner, 1, b2)
    assert torch.equal(b1['data_samples'][3].proto_loc_noisy,
                       b2['data_samples'][0].proto_loc_noisy)
    assert torch.equal(b1['data_samples'][1].proto_loc_noisy,
                       b2['data_samples'][1].proto_loc_noisy)
    # the stored noisy pass is the model on the clipped noisy input
    data = model.data_preprocessor(pseudo_collate([ds[2]]), False)
    g = torch.Generator().manual_seed(3 + 2)
    noise = torch.empty(data['inputs'].shape[1:]).normal_(
        0, 0.2, generator=g).clamp_(-0.25, 0.25)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'] + noise[None])
        f = model.head._prototype_fields(feats, data['data_samples'])
    assert torch.equal(f['loc'][0], b1['data_samples'][2].proto_loc_noisy)

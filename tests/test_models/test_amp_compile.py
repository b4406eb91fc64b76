"""Every head, neck, loss and distance of mmfg under mixed precision and
``torch.compile`` on the CPU.

Which check covers what (components built from config dicts through the
registry, small tensors):

* AMP (``test_autocast_matches_fp32``), bf16 and fp16 CPU autocast: the
  heads ``ProtoPNetHead``, ``STProtoPNetHead``, ``PrototypeLayer``,
  ``ProtoTreeHead``, ``BASHead``, ``EmbeddingHead``,
  ``TargetEmbeddingHead``; the necks ``GaborTextureNeck``, ``RBINeck``; the
  losses ``ProtoPNetLoss``, ``STProtoPNetLoss``, ``TripletLoss``,
  ``ContrastiveLoss``, ``ZeroMeanRegularizer``, ``CodeRegressionLoss``,
  ``RKDLoss``, ``ActivationMapConstraintLoss``, ``AreaLoss``,
  ``ForegroundGuidanceLoss``; every function of
  ``mmfg/models/utils/distances.py``. Outputs and losses are finite and
  within a stated tolerance of float32 (``TOL``, relative to the output's
  scale), and the input gradients of the backward pass are finite and point
  the float32 way (cosine >= ``GRAD_COS``); the fp16 backward goes through
  ``GradScaler`` loss scaling.
* ``torch.compile(fullgraph=True, backend='eager')`` (dynamo capture: no
  graph break, no host sync; the cheap backend keeps this module fast on
  one CPU core) equals eager, values and gradients: every distance function
  (one graph), the ProtoTree head's forward and loss, and the metric (with
  their miners) / relational / code-regression / WSOL losses (one graph).
  The ProtoPNet and ST-ProtoPNet prototype layers and their losses are
  compiled with ``aot_eager`` in
  ``tests/test_models/test_heads/test_protopnet_head.py``; the tree routing
  is checked for graph breaks in ``test_prototree_head.py``.
* Not compiled here: the BAS, embedding and target-embedding heads, the
  Gabor and RBI necks (AMP only).
"""
from typing import Callable, Dict, Tuple

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mmfg.models.utils import distances as D
from mmfg.registry import MODELS

#: max |amp - fp32| / (max |fp32| + 1) per output, by autocast dtype
TOL = {torch.bfloat16: 0.05, torch.float16: 0.01}
#: min cosine between the AMP and fp32 input gradients (bf16: a min-pool
#: may pick another patch, moving some gradient)
GRAD_COS = {torch.bfloat16: 0.9, torch.float16: 0.98}
LABELS = torch.tensor([0, 1, 2, 1, 0, 2])
BACKEND = 'eager'


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmfg'):
        module = MODELS.build(cfg)
    if hasattr(module, 'init_weights'):
        module.init_weights()
    return module


def _samples(labels):
    return [DataSample().set_gt_label(int(c)) for c in labels]


def _losses(d: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: v for k, v in d.items() if k.startswith('loss')}


# Each case returns (inputs, run): run(*inputs) -> dict of output tensors.
Case = Tuple[Tuple[torch.Tensor, ...], Callable]


def _proto_head(head_type) -> Case:
    cfg = dict(type=head_type, num_classes=3, in_channels=8,
               prototypes_per_class=2, prototype_dim=4)
    head = _build(cfg)
    return (torch.randn(6, 8, 5, 5), ), lambda x: _losses(
        head.loss((x, ), _samples(LABELS)))


def case_protopnet_head() -> Case:
    return _proto_head('ProtoPNetHead')


def case_st_protopnet_head() -> Case:
    return _proto_head('STProtoPNetHead')


def case_prototype_layer() -> Case:
    layer = _build(dict(type='PrototypeLayer', in_channels=8, num_classes=3,
                        prototypes_per_class=2, prototype_dim=4))

    def run(x):
        out = layer(x)
        return dict(logits=out['logits'], min_dist=out['min_dist'])

    return (torch.randn(6, 8, 5, 5), ), run


def case_prototree_head() -> Case:
    head = _build(dict(type='ProtoTreeHead', num_classes=3, in_channels=8,
                       depth=3, proto_channels=4, num_trees=2,
                       leaf_learning='gradient'))

    def run(x):
        out = _losses(head.loss((x, ), _samples(LABELS)))
        out['log_prob'] = head((x, ))
        return out

    return (torch.randn(6, 8, 4, 4), ), run


def case_bas_head() -> Case:
    from mmfg.models.classifiers.bas import detached_call
    head = _build(dict(
        type='BASHead', num_classes=4, in_channels=6, gen_in_channels=5,
        hidden_channels=8,
        loss_amc=dict(type='ActivationMapConstraintLoss', overflow='none')))
    tail = torch.nn.Conv2d(5, 6, 3, stride=2, padding=1)
    labels = torch.tensor([1, 3, 0, 2])
    return (torch.randn(4, 5, 8, 8), torch.randn(4, 6, 4, 4)), \
        lambda f3, f4: head.loss(f3, f4, lambda x: detached_call([tail], x),
                                 labels)


def case_embedding_head() -> Case:
    head = _build(dict(
        type='EmbeddingHead', in_channels=6, embed_dim=4, normalize=True,
        loss=dict(type='TripletLoss', distance='snr', miner='all'),
        regularizer=dict(type='ZeroMeanRegularizer', loss_weight=0.5)))
    return (torch.randn(6, 6), ), lambda x: head.loss((x, ),
                                                      _samples(LABELS))


def case_target_embedding_head() -> Case:
    head = _build(dict(type='TargetEmbeddingHead', num_classes=3,
                       in_channels=5, embed_dims=4))
    return (torch.randn(6, 5), ), lambda x: dict(
        head.loss((x, ), _samples(LABELS)), out=head((x, )))


def case_gabor_neck() -> Case:
    neck = _build(dict(type='GaborTextureNeck', in_channels=16,
                       num_filters=8, kernel_size=7))
    return (torch.randn(2, 16, 4, 4), torch.randn(2, 3, 64, 64)), \
        lambda f, img: dict(out=neck((f, ), images=img)[0])


def case_rbi_neck() -> Case:
    torch.manual_seed(0)
    neck = _build(dict(type='RBINeck', in_channels=16, num_heads=4,
                       psnr_size=4)).train()
    return (torch.randn(6, 16, 2, 2), torch.randn(6, 3, 8, 8)), \
        lambda f, img: dict(out=neck((f, ), images=img)[0])


def _proto_loss_inputs():
    logits, sim = torch.randn(6, 3), torch.rand(6, 6)
    protos, weight = torch.randn(6, 4), torch.randn(3, 6)
    return logits, sim, protos, weight


def case_protopnet_loss() -> Case:
    loss = _build(dict(type='ProtoPNetLoss'))
    cls = torch.tensor([0, 0, 1, 1, 2, 2])
    logits, sim, _, weight = _proto_loss_inputs()
    return (logits, sim * 5, weight), lambda lg, d, w: _losses(
        loss(lg, d, LABELS, cls, w))


def case_st_protopnet_loss() -> Case:
    loss = _build(dict(type='STProtoPNetLoss', prefix='trivial',
                       discrimination_weight=1.0))
    cls = torch.tensor([0, 0, 1, 1, 2, 2])
    return _proto_loss_inputs(), lambda lg, s, p, w: _losses(
        loss(lg, s, LABELS, p, cls, w))


def _metric_loss(cfg) -> Case:
    loss = _build(cfg)
    return (F.normalize(torch.randn(6, 8), dim=1), ), lambda e: dict(
        loss=loss(e, LABELS))


def case_triplet_loss_l2() -> Case:
    return _metric_loss(dict(type='TripletLoss', distance='l2', miner='all'))


def case_triplet_loss_snr() -> Case:
    return _metric_loss(dict(type='TripletLoss', distance='snr',
                             miner='all'))


def case_contrastive_loss() -> Case:
    return _metric_loss(dict(type='ContrastiveLoss', distance='cosine'))


def case_zero_mean_regularizer() -> Case:
    reg = _build(dict(type='ZeroMeanRegularizer', loss_weight=0.5))
    return (torch.randn(6, 8), ), lambda e: dict(loss=reg(e))


def case_code_regression_loss() -> Case:
    loss = _build(dict(type='CodeRegressionLoss', mode='cosine'))
    return (torch.randn(6, 4), torch.randn(6, 4)), lambda p, t: dict(
        loss=loss(p, t))


def case_rkd_loss() -> Case:
    loss = _build(dict(type='RKDLoss'))
    return (torch.randn(6, 5), torch.randn(6, 7)), lambda s, t: loss(
        s, t, return_parts=True)


def case_wsol_losses() -> Case:
    amc = _build(dict(type='ActivationMapConstraintLoss'))
    area = _build(dict(type='AreaLoss'))
    fg = _build(dict(type='ForegroundGuidanceLoss'))
    target = torch.tensor([0, 2, 1, 3])
    return (torch.rand(4) + 0.1, torch.rand(4) + 0.5, torch.rand(4, 8, 8),
            torch.randn(4, 4)), lambda b, s, m, lg: dict(
                amc=amc(b, s), area=area(m), fg=fg(lg, target))


def _distances(x, p, a, b) -> Dict[str, torch.Tensor]:
    out = dict(
        sq=D.pairwise_squared_l2(a, b), l2=D.pairwise_l2(a, b),
        cos=D.pairwise_cosine_similarity(a, b), snr=D.snr_distance(a, b),
        map=D.squared_l2_map(x, p), l2map=D.l2_map(x, p),
        cosmap=D.cosine_similarity_map(x, p),
        min=D.min_squared_l2(x, p)[0],
        logsim=D.log_similarity(D.squared_l2_map(x, p)))
    for name in D.DISTANCES:
        out[f'pd_{name}'] = D.pairwise_distance(a, b, name)
    return out


def _near(n, m, d, scale=0.05):
    """Rows of ``b`` close to rows of ``a``: where the expanded L2 loses
    digits (|a|^2 + |b|^2 - 2 a.b cancels)."""
    a = 3 + torch.randn(n, d)
    return a, a[torch.arange(m) % n] + scale * torch.randn(m, d)


def case_distances() -> Case:
    a, b = _near(6, 5, 16)
    x = 3 + torch.randn(2, 16, 3, 3)
    p = x[0, :, :2, 0].t() + 0.05 * torch.randn(2, 16)
    return (x, p, a, b), _distances


CASES = {
    name[len('case_'):]: fn
    for name, fn in sorted(globals().items()) if name.startswith('case_')
}


def _cos(u, v):
    return F.cosine_similarity(u.flatten().double(), v.flatten().double(),
                               dim=0)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16],
                         ids=['bf16', 'fp16'])
@pytest.mark.parametrize('name', list(CASES))
def test_autocast_matches_fp32(name, dtype):

    def go(amp):
        torch.manual_seed(0)  # a fresh, identical component and batch
        inputs, run = CASES[name]()
        xs = [x.requires_grad_(x.is_floating_point()) for x in inputs]
        with torch.autocast('cpu', dtype=dtype, enabled=amp):
            out = run(*xs)
        total = sum(v.float().sum() for v in out.values())
        scaler = torch.amp.GradScaler('cpu', init_scale=64.0,
                                      enabled=amp and dtype == torch.float16)
        scaler.scale(total).backward()
        grads = [x.grad / scaler.get_scale() if x.grad is not None else None
                 for x in xs]
        return out, grads

    ref, ref_grads = go(False)
    out, grads = go(True)
    assert set(out) == set(ref)
    for key, r in ref.items():
        o = out[key].float()
        assert torch.isfinite(o).all(), f'{name}.{key} not finite'
        err = float(((o - r).abs().max() / (r.abs().max() + 1)).detach())
        assert err <= TOL[dtype], f'{name}.{key}: {err:.4f} > {TOL[dtype]}'
    for g, rg in zip(grads, ref_grads):
        if rg is None or not rg.abs().sum():
            continue
        assert g is not None and torch.isfinite(g).all(), name
        cos = float(_cos(g, rg))
        assert cos >= GRAD_COS[dtype], f'{name}: grad cos {cos:.3f}'


def _compiled_equals_eager(fn, *inputs, atol=1e-5, rtol=1e-5):
    import torch._dynamo as dynamo

    def value_and_grads(f):
        xs = [x.clone().requires_grad_(x.is_floating_point())
              for x in inputs]
        out = f(*xs)
        total = sum(v.sum() for v in out.values())
        leaves = [x for x in xs if x.requires_grad]
        return out, torch.autograd.grad(total, leaves, allow_unused=True)

    ref, ref_g = value_and_grads(fn)
    dynamo.reset()
    out, g = value_and_grads(
        torch.compile(fn, backend=BACKEND, fullgraph=True))
    for key in ref:
        torch.testing.assert_close(out[key], ref[key], atol=atol, rtol=rtol)
    for a, b in zip(g, ref_g):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


def test_distances_compile_as_one_graph():
    inputs, run = case_distances()
    _compiled_equals_eager(run, *inputs, atol=1e-4, rtol=1e-4)


def test_prototree_loss_compiles():
    torch.manual_seed(0)
    head = _build(dict(type='ProtoTreeHead', num_classes=3, in_channels=8,
                       depth=3, proto_channels=4, num_trees=2,
                       leaf_learning='gradient'))
    labels = F.one_hot(LABELS, 3).float()

    def step(x):
        log_prob = head((x, ))
        return dict(log_prob=log_prob,
                    loss=F.nll_loss(log_prob, labels.argmax(1)))

    _compiled_equals_eager(step, torch.randn(6, 8, 4, 4))


def test_losses_compile_as_one_graph():
    """Metric (with their miners), relational, code-regression and WSOL
    losses: one fullgraph compile of all of them."""
    names = ('triplet_loss_l2', 'triplet_loss_snr', 'contrastive_loss',
             'zero_mean_regularizer', 'code_regression_loss', 'rkd_loss',
             'wsol_losses')
    torch.manual_seed(0)
    cases = [CASES[n]() for n in names]
    sizes = [len(inputs) for inputs, _ in cases]
    flat = [x for inputs, _ in cases for x in inputs]

    def run_all(*xs):
        out, i = {}, 0
        for name, (_, run), n in zip(names, cases, sizes):
            res = run(*xs[i:i + n])
            out.update({f'{name}.{k}': v for k, v in res.items()})
            i += n
        return out

    _compiled_equals_eager(run_all, *flat)

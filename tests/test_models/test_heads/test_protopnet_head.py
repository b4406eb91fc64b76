"""ProtoPNet head and the shared prototype layer."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

import mmfg.models  # noqa: F401
from mmfg.explain.prototypes import argmax_location, upsample_activation
from mmfg.models.heads.prototype_layer import (PrototypeLayer,
                                               build_add_on_layers,
                                               feature_map)
from mmfg.registry import MODELS


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmfg'):
        return MODELS.build(cfg)


def _samples(labels, hw=(40, 48)):
    return [
        DataSample(metainfo=dict(img_shape=hw, sample_idx=i)).set_gt_label(l)
        for i, l in enumerate(labels)
    ]


def _slow_sq_l2(x, protos):
    """Explicit loop over positions and prototypes."""
    B, D, H, W = x.shape
    out = torch.zeros(B, protos.shape[0], H, W, dtype=torch.float64)
    for b in range(B):
        for p in range(protos.shape[0]):
            for i in range(H):
                for j in range(W):
                    out[b, p, i, j] = ((x[b, :, i, j].double() -
                                        protos[p].double())**2).sum()
    return out


def _ones_conv_sq_l2(x, protos):
    """The official ProtoPNet computation (ones-convolution)."""
    P, D = protos.shape
    w = protos.view(P, D, 1, 1)
    x2 = F.conv2d(x**2, torch.ones_like(w))
    p2 = (w**2).sum((1, 2, 3)).view(-1, 1, 1)
    return F.relu(x2 - 2 * F.conv2d(x, w) + p2)


def test_distance_equals_slow_reference_and_ones_conv():
    torch.manual_seed(0)
    layer = PrototypeLayer(in_channels=6, num_classes=3,
                           prototypes_per_class=2, prototype_dim=5)
    z = torch.rand(2, 5, 4, 3)
    d = layer.distance_maps(z)
    torch.testing.assert_close(d.double(), _slow_sq_l2(z, layer.prototypes),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(d, _ones_conv_sq_l2(z, layer.prototypes),
                               atol=1e-5, rtol=1e-5)
    # a prototype placed on a patch has distance ~0 there (up to the
    # rounding of ||x||^2 - 2x.p + ||p||^2), its minimum
    with torch.no_grad():
        layer.prototypes[4] = z[1, :, 2, 1]
        d = layer.distance_maps(z)
    assert d[1, 4, 2, 1] < 1e-5 and (d >= 0).all()
    assert d[1, 4].argmin() == 2 * 3 + 1


def test_cosine_layer_similarity_reference():
    torch.manual_seed(1)
    layer = PrototypeLayer(6, 2, 3, 4, similarity='cosine',
                           add_on_type='linear', normalize_prototypes=True)
    torch.testing.assert_close(layer.prototypes.norm(dim=1), torch.ones(6))
    z = torch.randn(2, 4, 3, 3)
    s = layer.distance_maps(z)
    ref = torch.einsum('bdhw,pd->bphw', F.normalize(z, dim=1),
                       F.normalize(layer.prototypes, dim=1)).clamp_min(0)
    torch.testing.assert_close(s, ref)
    out = layer(torch.randn(2, 6, 3, 3))
    torch.testing.assert_close(out['sim'],
                               out['maps'].flatten(2).max(-1).values)


def test_min_pool_log_similarity_and_last_layer():
    torch.manual_seed(0)
    layer = PrototypeLayer(8, num_classes=3, prototypes_per_class=2,
                           prototype_dim=4, eps=1e-4)
    w = layer.last_layer.weight
    expect = torch.full((3, 6), -0.5)
    for p in range(6):
        expect[p // 2, p] = 1.0
    assert torch.equal(w, expect) and layer.last_layer.bias is None
    x = torch.randn(2, 8, 5, 5)
    out = layer(x)
    dmin = out['maps'].flatten(2).min(-1).values
    torch.testing.assert_close(out['min_dist'], dmin)
    torch.testing.assert_close(out['sim'],
                               torch.log((dmin + 1) / (dmin + 1e-4)))
    torch.testing.assert_close(out['logits'], out['sim'] @ w.t())
    pos = out['pos']
    picked = out['maps'].flatten(2).gather(2, pos[..., None])[..., 0]
    assert torch.equal(picked, dmin)


@pytest.mark.parametrize('kind,expect', [
    ('regular', [torch.nn.Conv2d, torch.nn.ReLU, torch.nn.Conv2d,
                 torch.nn.Sigmoid]),
    ('linear', [torch.nn.Conv2d, torch.nn.Conv2d]),
])
def test_add_on_types(kind, expect):
    seq = build_add_on_layers(512, 128, kind)
    assert [type(m) for m in seq] == expect
    assert seq(torch.randn(1, 512, 2, 2)).shape == (1, 128, 2, 2)


def test_bottleneck_halves_to_prototype_dim():
    seq = build_add_on_layers(2048, 128, 'bottleneck')
    convs = [m for m in seq if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (2048, 1024), (1024, 1024), (1024, 512), (512, 512), (512, 256),
        (256, 256), (256, 128), (128, 128)
    ]
    assert isinstance(seq[-1], torch.nn.Sigmoid)
    assert sum(isinstance(m, torch.nn.Sigmoid) for m in seq) == 1
    up = build_add_on_layers(64, 64, 'identity', upsample_factor=2)
    assert up(torch.randn(1, 64, 3, 3)).shape == (1, 64, 6, 6)


def test_tokens_are_reshaped_to_maps():
    x = torch.randn(2, 16, 3, 4)
    tokens = torch.cat([torch.randn(2, 1, 16), x.flatten(2).transpose(1, 2)],
                       1)
    torch.testing.assert_close(feature_map((tokens, ), token_hw=(3, 4)), x)
    sq = torch.randn(2, 16, 4, 4)
    tok = torch.cat([torch.zeros(2, 1, 16), sq.flatten(2).transpose(1, 2)], 1)
    torch.testing.assert_close(feature_map([tok]), sq)
    with pytest.raises(ValueError, match='token_hw'):
        feature_map(torch.randn(2, 13, 16), num_extra_tokens=1)


def test_head_from_config_loss_backward_and_values():
    head = _build(dict(type='ProtoPNetHead', num_classes=3, in_channels=8,
                       prototypes_per_class=2, prototype_dim=4, cal_acc=True))
    feats = (torch.randn(4, 8, 5, 5, requires_grad=True), )
    samples = _samples([0, 1, 2, 1])
    losses = head.loss(feats, samples)
    assert {'loss_ce', 'loss_cluster', 'loss_separation', 'loss_l1',
            'accuracy_top-1'} <= set(losses)
    out = head.layer(feats)
    labels = torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(losses['loss_ce'],
                               F.cross_entropy(out['logits'], labels))
    own = out['min_dist'].view(4, 3, 2)[torch.arange(4), labels].min(1).values
    torch.testing.assert_close(losses['loss_cluster'], 0.8 * own.mean())
    # masked L1 of the initial last layer: 3 classes x 4 wrong protos x 0.5
    torch.testing.assert_close(losses['loss_l1'], torch.tensor(1e-4 * 6.0))
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert feats[0].grad is not None and head.layer.prototypes.grad.abs().sum(
    ) > 0
    assert head(feats).shape == (4, 3)
    assert head.pre_logits(feats).shape == (4, 6)


def test_bf16_autocast_keeps_float32_distances():
    head = _build(dict(type='ProtoPNetHead', num_classes=2, in_channels=8,
                       prototypes_per_class=2, prototype_dim=4))
    feats = (torch.randn(2, 8, 4, 4), )
    ref = head(feats)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = head.layer(feats)
        losses = head.loss(feats, _samples([0, 1]))
    assert out['maps'].dtype == torch.float32
    assert torch.isfinite(torch.stack(
        [v for k, v in losses.items() if k.startswith('loss')])).all()
    torch.testing.assert_close(out['logits'].float(), ref, atol=0.1,
                               rtol=0.05)


def test_predict_adds_prototype_fields_with_exact_locations():
    torch.manual_seed(0)
    head = _build(dict(type='ProtoPNetHead', num_classes=3, in_channels=8,
                       prototypes_per_class=2, prototype_dim=4))
    feats = (torch.randn(2, 8, 5, 6), )
    preds = head.predict(feats, _samples([0, 2], hw=(40, 48)))
    out = head.layer(feats)
    act = torch.log((out['maps'] + 1) / (out['maps'] + 1e-4))
    for i, ds in enumerate(preds):
        assert ds.proto_loc.shape == (6, 2)
        ref = argmax_location(upsample_activation(act[i], (40, 48)))
        assert torch.equal(ds.proto_loc, ref)
        torch.testing.assert_close(ds.proto_sim, out['sim'][i])
        pred = int(ds.pred_label)
        torch.testing.assert_close(
            ds.proto_contrib,
            out['sim'][i] * head.layer.last_layer.weight[pred])
        assert ds.proto_class.tolist() == [0, 0, 1, 1, 2, 2]
        assert ds.proto_valid.all()
    head.predict_locations = False
    assert 'proto_loc' not in head.predict(feats, _samples([0, 2]))[0]


def test_explain_ranks_by_contribution_and_is_json_ready():
    from mmfg.visualization.prototypes import jsonable_explanation
    torch.manual_seed(0)
    head = _build(dict(type='ProtoPNetHead', num_classes=4, in_channels=8,
                       prototypes_per_class=3, prototype_dim=4))
    feats = (torch.randn(2, 8, 5, 5), )
    expl = head.explain(feats, _samples([1, 3], hw=(40, 40)), topk_classes=2,
                        topk_prototypes=3)
    out = head.layer(feats)
    assert len(expl) == 2
    for b, e in enumerate(expl):
        assert e['type'] == 'protopnet' and e['gt_label'] == [1, 3][b]
        assert e['pred_label'] == int(out['logits'][b].argmax())
        assert [c['class'] for c in e['classes']] == out['logits'][b].topk(
            2).indices.tolist()
        for c in e['classes']:
            contrib = out['sim'][b] * head.layer.last_layer.weight[c['class']]
            assert [p['index'] for p in c['prototypes']] == contrib.topk(
                3).indices.tolist()
            for p in c['prototypes']:
                assert p['contribution'] == pytest.approx(
                    p['similarity'] * p['weight'], rel=1e-5)
                assert p['heatmap'].shape == (40, 40)
                assert 0 <= p['heatmap'].min() and p['heatmap'].max() <= 1
                x1, y1, x2, y2 = p['patch_box']
                lx, ly = p['location']
                assert x1 <= lx < x2 and y1 <= ly < y2
        json.dumps(jsonable_explanation(e))


def test_explanation_renderer_writes_png(tmp_path):
    import cv2

    from mmfg.visualization import render_explanation
    head = _build(dict(type='ProtoPNetHead', num_classes=3, in_channels=8,
                       prototypes_per_class=2, prototype_dim=4))
    expl = head.explain((torch.randn(1, 8, 4, 4), ), _samples([0], (32, 32)))
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    out = render_explanation(expl[0], img, str(tmp_path / 'e.png'))
    rendered = cv2.imread(out)
    assert rendered is not None and rendered.shape[1] >= 4 * 32


def test_explain_carries_class_names(tmp_path):
    # mmfg.apis.explain passes the checkpoint's class names to heads whose
    # explain() takes `classes`; the PNG shows them under each class title.
    import inspect

    import cv2

    from mmfg.visualization import render_explanation
    torch.manual_seed(0)
    head = _build(dict(type='ProtoPNetHead', num_classes=3, in_channels=8,
                       prototypes_per_class=2, prototype_dim=4))
    assert 'classes' in inspect.signature(head.explain).parameters
    feats = (torch.randn(1, 8, 4, 4), )
    names = ['001.Crested_A', '002.Barred_B', '003.Spotted_C']
    plain = head.explain(feats, _samples([0], (32, 32)), topk=2)[0]
    named = head.explain(feats, _samples([0], (32, 32)), topk=2,
                         classes=names)[0]
    assert plain['pred_name'] is None
    assert named['pred_name'] == names[named['pred_label']]
    for c_plain, c in zip(plain['classes'], named['classes']):
        assert c_plain['name'] is None and c['name'] == names[c['class']]
        assert c['prototypes'][0]['index'] == \
            c_plain['prototypes'][0]['index']
    img = np.zeros((32, 32, 3), np.uint8)
    h_plain = cv2.imread(
        render_explanation(plain, img, str(tmp_path / 'a.png'))).shape[0]
    h_named = cv2.imread(
        render_explanation(named, img, str(tmp_path / 'b.png'))).shape[0]
    # one 12 px name line under the header and under each of the 2 classes
    assert h_named - h_plain == 3 * 12


def test_prune_masks_contributions():
    layer = PrototypeLayer(8, 2, 2, 4)
    layer.prune_(torch.tensor([False, True, False, False]))
    out = layer(torch.randn(3, 8, 2, 2))
    assert (out['sim'][:, 1] == 0).all()
    assert (layer.last_layer.weight[:, 1] == 0).all()
    assert layer.prototype_valid.tolist() == [True, False, True, True]
    sd = layer.state_dict()
    assert 'prototype_valid' in sd and 'prototype_class' in sd


@pytest.mark.parametrize('head_type', ['ProtoPNetHead', 'STProtoPNetHead'])
def test_layer_and_loss_compile_as_one_graph(head_type):
    """torch.compile (fullgraph: no graph break, no host sync) of every
    prototype layer and its loss gives the eager values and gradients."""
    import torch._dynamo as dynamo
    cfg = dict(type=head_type, num_classes=3, in_channels=8,
               prototypes_per_class=2, prototype_dim=4)
    if head_type == 'STProtoPNetHead':
        cfg.update(upsample_factor=1)
    head = _build(cfg)
    feats = (torch.randn(4, 8, 5, 5), )
    labels = torch.tensor([0, 2, 1, 2])
    for name, layer in head.prototype_layers().items():
        loss_fn = head.losses[name] if name else head.loss_module

        def step(x, layer=layer, loss_fn=loss_fn):
            out = layer((x, ))
            dist = out['min_dist'] if layer.metric == 'squared_l2' \
                else out['sim']
            extra = () if layer.metric == 'squared_l2' \
                else (layer.prototypes, )
            terms = loss_fn(out['logits'], dist, labels, *extra,
                            layer.prototype_class, layer.last_weight,
                            layer.prototype_valid)
            return sum(v for k, v in terms.items() if k.startswith('loss'))

        ref = step(feats[0])
        grads_ref = torch.autograd.grad(ref, [layer.prototypes])
        dynamo.reset()
        compiled = torch.compile(step, backend='aot_eager', fullgraph=True)
        got = compiled(feats[0])
        grads = torch.autograd.grad(got, [layer.prototypes])
        torch.testing.assert_close(got, ref)
        torch.testing.assert_close(grads[0], grads_ref[0])


def test_push_records_travel_as_a_tensor_in_the_state_dict():
    """Every state entry is a tensor (MMEngine broadcasts the state dict at
    DDP start-up), and the push records survive a state-dict round trip,
    also from the dict format of earlier checkpoints."""
    cfg = dict(type='ProtoPNetHead', num_classes=2, in_channels=8,
               prototypes_per_class=2, prototype_dim=4)
    head = _build(cfg)
    state = head.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    records = dict(epoch=3, input_hw=[40, 48], branches={'': [
        dict(prototype=0, img_path='a/b.jpg', rf_box=[1, 2, 3, 4],
             distance=0.25)]})
    head.push_records = records
    state = head.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    other = _build(cfg)
    other.load_state_dict(state)
    assert other.push_records == records
    old = dict(state)
    key = next(k for k in old if k.endswith('_extra_state'))
    old[key] = dict(push_records=records)
    third = _build(cfg)
    third.load_state_dict(old)
    assert third.push_records == records

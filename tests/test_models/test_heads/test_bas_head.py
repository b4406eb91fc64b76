"""BASHead: top-k fusion against a slow reference, class-map selection,
multi-label positives, and which parameters each loss term trains."""
import pytest
import torch

from mmfg.models.heads.bas_head import select_class_maps, topk_fused_map
from mmfg.registry import MODELS


def _slow_topk(maps, scores, k):
    out = []
    for m, s in zip(maps, scores):
        order = sorted(range(len(s)), key=lambda c: -float(s[c]))[:k]
        out.append(sum(m[c] for c in order) / len(order))
    return torch.stack(out)


@pytest.mark.parametrize('k', [1, 3, 5, 7])
def test_topk_fusion_equals_slow_reference(k):
    g = torch.Generator().manual_seed(k)
    maps = torch.rand(4, 5, 6, 7, generator=g)
    scores = torch.randn(4, 5, generator=g)  # distinct: no ties
    fused = topk_fused_map(maps, scores, k)
    assert fused.shape == (4, 6, 7)
    assert torch.allclose(fused, _slow_topk(maps, scores, min(k, 5)))


def test_select_class_maps():
    maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float).view(2, 3, 2, 2)
    sel = select_class_maps(maps, torch.tensor([2, 0]))
    assert torch.equal(sel[:, 0], torch.stack([maps[0, 2], maps[1, 0]]))


def _head(**kw):
    cfg = dict(
        type='BASHead',
        num_classes=4,
        in_channels=6,
        gen_in_channels=5,
        hidden_channels=8,
        loss_amc=dict(type='ActivationMapConstraintLoss', overflow='none'))
    cfg.update(kw)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def test_draw_positive_only_positives():
    head = _head(multi_label=True)
    onehot = torch.tensor([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 1]] * 50)
    drawn = head.draw_positive(onehot)
    assert bool(onehot[torch.arange(150), drawn].all())
    # both positives of the first image are drawn at some point
    assert set(drawn[0::3].tolist()) == {1, 3}
    with pytest.raises(ValueError, match='no positive'):
        head.draw_positive(torch.zeros(1, 4))


def test_loss_terms_train_the_right_parameters():
    torch.manual_seed(0)
    head = _head()
    f3 = torch.randn(2, 5, 8, 8, requires_grad=True)
    f4 = torch.randn(2, 6, 4, 4, requires_grad=True)
    tail = torch.nn.Conv2d(5, 6, 3, stride=2, padding=1)
    from mmfg.models.classifiers.bas import detached_call
    losses = head.loss(f3, f4, lambda x: detached_call([tail], x),
                       torch.tensor([1, 3]))
    assert set(losses) == {'loss_cls', 'loss_fg', 'loss_amc', 'loss_area'}
    # the Activation Map Constraint trains the generator (and what feeds
    # it), never the classifier nor the detached tail
    losses['loss_amc'].backward()
    assert all(p.grad is None for p in head.classifier.parameters())
    assert all(p.grad is None for p in tail.parameters())
    assert head.generator[0].weight.grad.abs().sum() > 0
    assert f4.grad is None
    # the area term never touches the classifier either
    head.zero_grad()
    losses = head.loss(f3, f4, lambda x: detached_call([tail], x),
                       torch.tensor([1, 3]))
    losses['loss_cls'].backward()
    assert head.generator[0].weight.grad is None
    assert head.classifier[0].weight.grad.abs().sum() > 0


def test_detach_fg_features_trains_only_the_generator():
    head = _head(detach_fg_features=True, num_convs=0)
    f3 = torch.randn(2, 5, 8, 8)
    f4 = torch.randn(2, 6, 4, 4)
    losses = head.loss(f3, f4, lambda x: x[:, :1].expand(-1, 6, -1, -1),
                       torch.tensor([0, 2]))
    losses['loss_fg'].backward()
    assert head.classifier[0].weight.grad is None
    assert head.generator[0].weight.grad.abs().sum() > 0

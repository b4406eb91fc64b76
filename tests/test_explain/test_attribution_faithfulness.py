"""Insertion / deletion curves, AUCs, pointing game and mass in box."""
import pytest
import torch
from torch import nn

from mmfg.explain.attribution import (curve_auc, highest_confidence,
                                      insertion_deletion, labels_to_masks,
                                      make_baseline, mass_inside_box,
                                      pixel_ranks, pointing_game,
                                      reference_curve, region_ranks,
                                      slic_partition)


class TinyNet(nn.Module):

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, classes)

    def features(self, x):
        return torch.relu(self.conv(x)).mean((2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


class ObjectModel(nn.Module):
    """Class-0 logit grows with the share of the object that is visible."""

    def __init__(self, obj: torch.Tensor) -> None:
        super().__init__()
        self.obj = obj.float()

    def forward(self, x):
        seen = (x[:, 0] * self.obj).flatten(1).sum(1) / self.obj.sum()
        return torch.stack([12 * seen - 6, torch.zeros_like(seen)], 1)


def test_oracle_map_beats_random_on_insertion_and_deletion():
    obj = torch.zeros(16, 16)
    obj[4:10, 5:11] = 1
    x = torch.ones(1, 3, 16, 16)
    model = ObjectModel(obj)
    oracle = obj[None] + 0.01 * torch.rand(1, 16, 16)
    rand = torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(1))
    kw = dict(targets=torch.tensor([0]), steps=64)
    good = insertion_deletion(model, x, maps=oracle, **kw)
    bad = insertion_deletion(model, x, maps=rand, **kw)
    assert good['insertion_auc'][0] > bad['insertion_auc'][0] + 0.3
    assert good['deletion_auc'][0] < bad['deletion_auc'][0] - 0.3
    # the oracle reveals the whole object (36 / 256 pixels) by step 9
    assert good['insertion'][0, 9] == pytest.approx(
        torch.sigmoid(torch.tensor(6.)).item(), abs=1e-6)


def test_constant_model_gives_flat_curves():
    class Const(nn.Module):

        def forward(self, x):
            return torch.tensor([[1., 2., 0.]]).expand(x.shape[0], 3)

    x = torch.randn(2, 3, 8, 8)
    out = insertion_deletion(
        Const(), x, torch.tensor([1, 2]), maps=torch.rand(2, 8, 8),
        steps=10, baseline='blur')
    p = torch.tensor([1., 2., 0.]).softmax(0)
    for key in ('insertion', 'deletion'):
        torch.testing.assert_close(out[key][0], p[1].expand(11))
        torch.testing.assert_close(out[f'{key}_auc'],
                                   torch.stack([p[1], p[2]]))


@pytest.mark.parametrize('mode', ['insertion', 'deletion'])
def test_batched_curves_equal_per_step_loop(mode):
    model = TinyNet().double().eval()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    maps = torch.rand(2, 12, 12, dtype=torch.float64)
    tg = torch.tensor([1, 3])
    out = insertion_deletion(model, x, tg, maps=maps, steps=7, chunk_size=5,
                             baseline='mean')
    base = make_baseline(x, 'mean')
    ranks = pixel_ranks(maps)
    for i in range(2):
        order = torch.argsort(ranks[i].flatten())
        ref = reference_curve(model, x[i], base[i], order, int(tg[i]), 7,
                              mode)
        torch.testing.assert_close(out[mode][i], ref.float())


def test_region_order_equals_per_step_loop():
    model = TinyNet().double().eval()
    img = (torch.rand(16, 16, 3) * 255).byte().numpy()
    masks = labels_to_masks(slic_partition(img, n_segments=6))
    order = torch.randperm(masks.shape[0],
                           generator=torch.Generator().manual_seed(0))
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64)
    m = masks.shape[0]
    out = insertion_deletion(model, x, torch.tensor([2]),
                             ranks=region_ranks(masks[order])[None],
                             num_units=m, steps=m, chunk_size=3)
    for mode in ('insertion', 'deletion'):
        ref = reference_curve(model, x[0], torch.zeros_like(x[0]),
                              list(masks[order]), 2, m, mode)
        torch.testing.assert_close(out[mode][0], ref.float())


def test_ranks_auc_and_highest_confidence_by_hand():
    maps = torch.tensor([[[0.5, 0.9], [0.5, 0.1]]])
    assert pixel_ranks(maps).tolist() == [[[1, 0], [2, 3]]]
    masks = torch.tensor([[[1, 0], [0, 0]], [[1, 1], [0, 0]]]).bool()
    assert region_ranks(masks).tolist() == [[0, 1], [2, 2]]
    torch.testing.assert_close(
        curve_auc(torch.tensor([[0., 1.], [0., 0.5], [1., 1.]])),
        torch.tensor([0.5, 0.25, 1.]))
    curves = torch.tensor([[0.1, 0.9, 0.2, 0.3, 1.0]])
    assert highest_confidence(curves, 0.25).item() == pytest.approx(0.9)
    assert highest_confidence(curves, 1.0).item() == pytest.approx(1.0)


def test_pointing_game_and_mass_in_box_by_hand():
    maps = torch.zeros(2, 10, 10)
    maps[0, 2, 3] = 4.  # inside the box x 2..6, y 1..5
    maps[0, 8, 8] = 1.
    maps[1, 9, 0] = 2.  # outside
    maps[1, 3, 3] = -5.  # negative mass is ignored
    boxes = torch.tensor([[[2., 1., 6., 5.]], [[2., 1., 6., 5.]]])
    assert pointing_game(maps, boxes).tolist() == [True, False]
    # a 3-pixel tolerance reaches pixel (0, 9): centre 0.5 >= 2 - 3
    assert pointing_game(maps, boxes, tolerance=3.).tolist() == [True, False]
    torch.testing.assert_close(mass_inside_box(maps, boxes),
                               torch.tensor([0.8, 0.]))
    # NaN padding rows match nothing
    padded = torch.cat([boxes, torch.full((2, 1, 4), float('nan'))], 1)
    torch.testing.assert_close(mass_inside_box(maps, padded),
                               torch.tensor([0.8, 0.]))


def test_baselines_and_bad_input():
    x = torch.randn(1, 3, 4, 4)
    black = make_baseline(x, 'black', mean=[10., 20., 30.], std=[2., 4., 5.])
    torch.testing.assert_close(black[0, :, 0, 0], torch.tensor([-5., -5.,
                                                                -6.]))
    blur = make_baseline(torch.ones(1, 3, 9, 9), 'blur', blur_sigma=1.)
    torch.testing.assert_close(blur, torch.ones(1, 3, 9, 9))
    with pytest.raises(ValueError, match='mean and std'):
        make_baseline(x, 'black')
    with pytest.raises(ValueError, match='unknown baseline'):
        make_baseline(x, 'noise')
    model = TinyNet()
    with pytest.raises(ValueError, match='do not match'):
        insertion_deletion(model, x, torch.tensor([0]),
                           maps=torch.rand(1, 5, 4))
    with pytest.raises(ValueError, match='exactly one'):
        insertion_deletion(model, x, torch.tensor([0]))

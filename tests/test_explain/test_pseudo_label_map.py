"""Seed label maps from class maps, by hand."""
import torch

from mmfg.explain.wsss import pseudo_label_map


def test_pseudo_label_map_by_hand():
    maps = torch.zeros(4, 2, 3)
    maps[1] = torch.tensor([[2.0, 1.0, 0.0], [0.2, 0.0, 0.0]])  # max 2
    maps[3] = torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.0, 0.1]])  # max 1
    maps[2] = 5.0  # not in the image label: never predicted
    seg = pseudo_label_map(maps, torch.tensor([1, 3]), (2, 3),
                           bg_threshold=0.3)
    # normalised: class 1 [[1, .5, 0], [.1, 0, 0]], class 3 [[0, .5, 1],
    # [0, 0, .1]]; ties go to the lower class; below 0.3 is background
    expected = torch.tensor([[2, 2, 4], [0, 0, 0]])
    assert torch.equal(seg, expected)
    # upsampling to the image size keeps the layout of a constant map
    big = pseudo_label_map(maps, torch.tensor([1]), (4, 6), bg_threshold=0)
    assert big.shape == (4, 6) and set(big.unique().tolist()) <= {0, 2}
    assert pseudo_label_map(maps, torch.tensor([], dtype=torch.long),
                            (2, 2)).eq(0).all()

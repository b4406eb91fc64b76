"""Sub-region partitions: exact cover, saliency ranking, clear errors."""
import numpy as np
import pytest
import torch

from mmfg.explain.attribution import (build_partition, felzenszwalb_partition,
                                      grid_partition, labels_to_masks,
                                      masks_partition, saliency_grid_partition,
                                      seeds_partition, slic_partition)
from mmfg.utils.errors import ConfigError


@pytest.fixture
def img():
    rng = np.random.default_rng(0)
    im = np.zeros((24, 20, 3), np.uint8)
    im[4:14, 6:16] = (200, 40, 40)
    return np.clip(im + rng.integers(0, 30, im.shape), 0, 255).astype(
        np.uint8)


@pytest.mark.parametrize('cfg', [
    dict(type='slic', n_segments=9),
    dict(type='felzenszwalb', scale=50),
    dict(type='grid', patch=7),
])
def test_partitions_cover_every_pixel_once(img, cfg):
    masks = build_partition(cfg, img)
    assert masks.shape[1:] == (24, 20)
    assert torch.all(masks.sum(0) == 1)
    assert torch.all(masks.flatten(1).any(1))  # no empty region


def test_superpixel_labels_are_consecutive(img):
    for fn in (slic_partition, felzenszwalb_partition):
        lab = fn(img)
        assert set(np.unique(lab).tolist()) == set(range(lab.max() + 1))


def test_grid_by_hand():
    assert grid_partition(3, 5, 2).tolist() == [[0, 0, 1, 1, 2],
                                                [0, 0, 1, 1, 2],
                                                [3, 3, 4, 4, 5]]


def test_saliency_grid_ranks_patches_by_mean():
    sal = np.zeros((4, 4))
    sal[2:, 2:] = 3.  # bottom-right patch first
    sal[0:2, 2:] = 1.  # then top-right
    lab = saliency_grid_partition(sal, patch=2)
    assert lab.tolist() == [[2, 2, 1, 1], [2, 2, 1, 1], [3, 3, 0, 0],
                            [3, 3, 0, 0]]
    grouped = saliency_grid_partition(sal, patch=2, patches_per_region=2)
    assert grouped.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0],
                                [1, 1, 0, 0]]
    masks = build_partition(dict(type='saliency_grid', patch=2),
                            np.zeros((4, 4, 3), np.uint8), saliency=sal)
    assert torch.equal(masks, labels_to_masks(lab))


def test_user_masks_and_errors():
    m = np.zeros((2, 4, 4), bool)
    m[0, :2] = True
    m[1, 2:] = True
    out = masks_partition(m, (4, 4), require_cover=True)
    assert out.dtype == torch.bool and out.shape == (2, 4, 4)
    with pytest.raises(ValueError, match=r'expected shape \(K, 5, 4\)'):
        masks_partition(m, (5, 4))
    with pytest.raises(ValueError, match='empty'):
        masks_partition(np.zeros((1, 4, 4)), (4, 4))
    with pytest.raises(ValueError,
                       match='8 pixels are in no mask and 8 in several'):
        masks_partition(m[:1].repeat(2, 0) | m[:1], (4, 4),
                        require_cover=True)
    with pytest.raises(ConfigError, match='saliency'):
        build_partition(dict(type='saliency_grid', patch=2),
                        np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ConfigError, match='unknown partition'):
        build_partition(dict(type='watershed'),
                        np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        slic_partition(np.zeros((4, 4)))


def test_seeds_needs_opencv_contrib(img):
    import cv2
    if hasattr(cv2, 'ximgproc'):
        masks = build_partition(dict(type='seeds', n_segments=9), img)
        assert torch.all(masks.sum(0) == 1)
    else:
        with pytest.raises(ConfigError, match='opencv-contrib-python'):
            seeds_partition(img)

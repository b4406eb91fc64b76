"""mmcv 2.1's adjust_hue fails on negative shifts under numpy 2; mmfg's
replacement wraps the shift around the hue circle (known answers)."""
import cv2
import numpy as np
import pytest

import mmfg  # noqa: F401  applies the patch
from mmfg.utils.compat import _adjust_hue, patch_mmcv_adjust_hue

RED = np.array([[[0, 0, 255]]], np.uint8)  # BGR


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_primary_colours_rotate(backend):
    # a third of a turn: red -> green (+), red -> blue (-)
    green = _adjust_hue(RED, 1 / 3, backend=backend)[0, 0]
    blue = _adjust_hue(RED, -1 / 3, backend=backend)[0, 0]
    assert green[1] > 240 and green[0] < 16 and green[2] < 16, green
    assert blue[0] > 240 and blue[1] < 16 and blue[2] < 16, blue


@pytest.mark.parametrize('factor', [-0.5, -0.25, -0.02, 0.1, 0.5])
def test_matches_int_arithmetic_reference(factor):
    img = (np.random.RandomState(0).rand(8, 8, 3) * 255).astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL).astype(np.int64)
    hsv[..., 0] = (hsv[..., 0] + int(factor * 255)) % 256
    ref = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR_FULL)
    np.testing.assert_array_equal(_adjust_hue(img, factor, backend='cv2'),
                                  ref)
    gray = np.full((2, 2, 3), 128, np.uint8)  # no hue to shift
    for backend in ('cv2', 'pillow'):
        np.testing.assert_array_equal(
            _adjust_hue(gray, factor, backend=backend), gray)


def test_errors_and_the_patch():
    with pytest.raises(ValueError, match='hue_factor'):
        _adjust_hue(RED, 0.6)
    with pytest.raises(ValueError, match='backend'):
        _adjust_hue(RED, 0.1, backend='turbojpeg')
    import mmcv
    from mmpretrain.datasets.transforms import ColorJitter
    mmcv.adjust_hue(RED, -0.1)  # patched on import mmfg: no OverflowError
    assert patch_mmcv_adjust_hue() is False  # already working
    jitter = ColorJitter(hue=0.1)
    img = (np.random.RandomState(1).rand(8, 8, 3) * 255).astype(np.uint8)
    for _ in range(10):  # negative shifts are drawn half of the time
        assert jitter(dict(img=img.copy()))['img'].shape == (8, 8, 3)

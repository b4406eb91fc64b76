"""Shims that keep the OpenMMLab 2.x stack working on today's libraries.

Applied once, on ``import mmfg``:

- PyTorch >= 2.6 ``weights_only``: MMEngine's checkpoint loader is routed
  through :func:`mmfg.utils.checkpoint.safe_torch_load`, which allows exactly
  the globals MMEngine checkpoints contain (see that module).
- numpy >= 2.4 removed ``np.in1d``, which MMPretrain's retrieval metrics
  call. ``np.in1d`` is aliased to ``np.isin`` (same result for the 1-d
  arguments MMPretrain passes, flattened otherwise) only when it is missing.
- transformers >= 5 removed helpers (``apply_chunking_to_forward`` ...) that
  MMPretrain 1.2's multi-modal models (BLIP, OFA ...) import; with
  pycocotools installed (e.g. by MMDetection) MMPretrain imports them on
  ``import mmpretrain.models`` and fails with ``TypeError: NoneType takes no
  arguments``. Then MMPretrain's multi-modal models are switched off (they
  become MMPretrain's own "needs extra dependencies" placeholders); no mmfg
  component uses them.
- numpy >= 2 refuses ``np.uint8(negative)``, so mmcv 2.1's ``adjust_hue``
  (hence MMPretrain's ``ColorJitter`` with ``hue > 0``, which draws
  negative shifts half of the time) raises ``OverflowError``. It is
  replaced by a version that wraps the shift modulo 256 (the same result
  as before for positive shifts) when the installed one fails.
- MMEngine resolves ``pkg::path`` configs only for the packages it lists,
  and looks for an editable install in ``site-packages``. mmfg adds itself
  to that list and points MMEngine at the imported package, so a config
  can inherit ``_base_ = ['mmfg::protopnet/protopnet_r34_cub.py']`` (from
  ``mmfg/.mim/configs``, made by ``pip install``) once mmfg is imported
  (mmfg's tools import it first; ``mim train mmfg`` runs those tools).
"""
import importlib.metadata
import os.path as osp
import sys
import warnings
from typing import Optional

import numpy as np

from .checkpoint import patch_mmengine_checkpoint_loader

_APPLIED = False


def _in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    return np.isin(
        np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert,
        **kwargs)


def _transformers_major() -> int:
    try:
        return int(importlib.metadata.version('transformers').split('.')[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return 0


def patch_mmpretrain_multimodal() -> bool:
    """Switch MMPretrain's multi-modal models off under transformers >= 5.

    Returns:
        bool: whether the switch was needed and made.
    """
    if _transformers_major() < 5:
        return False
    import mmpretrain.utils.dependency as dep
    if not dep.WITH_MULTIMODAL:
        return False
    if 'mmpretrain.models' in sys.modules or \
            'mmpretrain.datasets' in sys.modules:
        warnings.warn(
            'mmfg: mmpretrain was imported before mmfg with transformers >= '
            '5 and pycocotools installed; its multi-modal models cannot '
            'import. Import mmfg first, or install "transformers<5".')
        return False
    dep.WITH_MULTIMODAL = False
    return True


def _adjust_hue(img: np.ndarray, hue_factor: float,
                backend: Optional[str] = None) -> np.ndarray:
    """``mmcv.adjust_hue`` with the hue shift wrapped modulo 256 (numpy 2).

    Args:
        img (np.ndarray): ``(H, W, 3)`` BGR image.
        hue_factor (float): shift of the hue channel in ``[-0.5, 0.5]``
            (a full turn is 1).
        backend (str, optional): ``'cv2'`` or ``'pillow'``; default mmcv's
            ``imread_backend``.

    Returns:
        np.ndarray: the image, same dtype, hue shifted.
    """
    import cv2
    import mmcv.image.io as mmcv_io
    backend = backend or mmcv_io.imread_backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f'adjust_hue: backend {backend!r} is not supported; '
                         "use 'cv2' or 'pillow'.")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'adjust_hue: hue_factor {hue_factor} is not in '
                         '[-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('adjust_hue: img must be an ndarray of 2 or 3 dims.')
    shift = np.uint8(int(hue_factor * 255) % 256)  # truncation as mmcv
    if backend == 'pillow':
        from PIL import Image
        if img.dtype != np.uint8:
            raise TypeError('adjust_hue: the pillow backend needs uint8.')
        h, s, v = Image.fromarray(img[..., ::-1], mode='RGB').convert(
            'HSV').split()
        h = Image.fromarray(np.asarray(h, dtype=np.uint8) + shift, 'L')
        rgb = Image.merge('HSV', (h, s, v)).convert('RGB')
        return np.asarray(rgb, dtype=img.dtype)[..., ::-1]
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    hsv[..., 0] += shift  # uint8: wraps around the hue circle
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


def _hue_shift_works(adjust_hue) -> bool:
    """Whether ``adjust_hue`` takes a negative shift (mmcv 2.1 under numpy
    2 raises ``OverflowError`` on ``np.uint8(negative)``)."""
    try:
        adjust_hue(np.zeros((1, 1, 3), np.uint8), -0.1)
    except OverflowError:
        return False
    return True


def patch_mmcv_adjust_hue() -> bool:
    """Replace mmcv's ``adjust_hue`` if it fails on a negative shift.

    Returns:
        bool: whether the replacement was needed and made.
    """
    try:
        import mmcv
        import mmcv.image
        import mmcv.image.photometric as photometric
    except ImportError:
        return False
    if _hue_shift_works(mmcv.adjust_hue):
        return False
    for mod in (mmcv, mmcv.image, photometric):
        if hasattr(mod, 'adjust_hue'):
            mod.adjust_hue = _adjust_hue
    return True


def register_mim_package() -> None:
    """Let MMEngine resolve ``mmfg::`` config paths (idempotent)."""
    import mmengine.config.config as config_module
    import mmengine.config.utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault('mmfg', 'mmfg')
    installed_path = config_module.get_installed_path
    if getattr(installed_path, 'mmfg_patched', False):
        return
    package_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))

    def get_installed_path(package: str) -> str:
        if package == 'mmfg':
            return package_dir
        return installed_path(package)

    get_installed_path.mmfg_patched = True
    config_module.get_installed_path = get_installed_path


def apply_compat_patches() -> None:
    """Apply all shims (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    patch_mmengine_checkpoint_loader()
    patch_mmpretrain_multimodal()
    patch_mmcv_adjust_hue()
    register_mim_package()
    if not hasattr(np, 'in1d'):
        np.in1d = _in1d
    _APPLIED = True

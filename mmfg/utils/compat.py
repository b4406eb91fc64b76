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
"""
import importlib.metadata
import sys
import warnings

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


def apply_compat_patches() -> None:
    """Apply all shims (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    patch_mmengine_checkpoint_loader()
    patch_mmpretrain_multimodal()
    if not hasattr(np, 'in1d'):
        np.in1d = _in1d
    _APPLIED = True

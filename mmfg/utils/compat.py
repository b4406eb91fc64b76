"""Shims that keep the OpenMMLab 2.x stack working on today's libraries.

Applied once, on ``import mmfg``:

- PyTorch >= 2.6 ``weights_only``: MMEngine's checkpoint loader is routed
  through :func:`mmfg.utils.checkpoint.safe_torch_load`, which allows exactly
  the globals MMEngine checkpoints contain (see that module).
- numpy >= 2.4 removed ``np.in1d``, which MMPretrain's retrieval metrics
  call. ``np.in1d`` is aliased to ``np.isin`` (same result for the 1-d
  arguments MMPretrain passes, flattened otherwise) only when it is missing.
"""
import numpy as np

from .checkpoint import patch_mmengine_checkpoint_loader

_APPLIED = False


def _in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    return np.isin(
        np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert,
        **kwargs)


def apply_compat_patches() -> None:
    """Apply all shims (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    patch_mmengine_checkpoint_loader()
    if not hasattr(np, 'in1d'):
        np.in1d = _in1d
    _APPLIED = True

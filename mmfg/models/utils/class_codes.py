"""Fixed class codes for low-dimensional target embedding.

"Beyond One-hot Encoding: lower dimensional target embedding" (Rodríguez et
al., Image and Vision Computing 2018) replaces the ``C``-dimensional one-hot
target of every class by a ``d``-dimensional code (``d < C``) and regresses
the network output to it. Two kinds of codes:

* **random projections** of the one-hot space: a ``(d, C)`` random matrix
  ``P`` maps the one-hot vector ``e_c`` to ``P e_c``, i.e. column ``c``; the
  codes are the ``C`` columns, each scaled to unit length
  (:func:`random_codes`).
* the **eigen-representation** of a symmetric class similarity matrix ``S``
  (``C x C``, e.g. a symmetrised confusion matrix):
  ``S = V diag(lam) V^T``; the code of class ``c`` is row ``c`` of
  ``V_d diag(sqrt(lam_d))`` (the ``d`` largest eigenvalues, negative ones
  clipped to 0), scaled to unit length (:func:`eigen_codes`). Classes that
  the similarity matrix calls alike get nearby codes.

A **codes file** (written by ``tools/analysis_tools/build_class_codes.py``,
read by :func:`load_codes_file`) is a NumPy ``.npz`` with

* ``similarity``: float ``(C, C)`` symmetric class similarity matrix;
* ``codes`` (optional): float ``(C, d)`` codes;
* ``eigenvalues`` (optional): float ``(d,)`` the eigenvalues used;
* ``classes`` (optional): str ``(C,)`` class names.

A plain ``.npy`` holding a ``(C, C)`` matrix is read as ``similarity``.
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmfg.utils.errors import ConfigError, DatasetNotFoundError

__all__ = [
    'random_codes', 'eigen_codes', 'symmetric_similarity',
    'similarity_from_confusion', 'similarity_from_scores', 'load_codes_file',
    'save_codes_file'
]


def random_codes(num_classes: int,
                 dims: int,
                 seed: int = 0,
                 distribution: str = 'gaussian') -> Tensor:
    """Random projections of the one-hot space.

    Args:
        num_classes (int): ``C``.
        dims (int): code length ``d``.
        seed (int): generator seed (the codes are a pure function of
            ``(C, d, seed, distribution)``).
        distribution (str): ``'gaussian'`` (``N(0, 1)`` entries) or
            ``'rademacher'`` (``+-1`` entries).

    Returns:
        Tensor: float32 ``(C, d)`` unit-length codes.
    """
    if num_classes < 1 or dims < 1:
        raise ConfigError(f'random_codes: num_classes ({num_classes}) and '
                          f'dims ({dims}) must be positive.')
    g = torch.Generator().manual_seed(int(seed))
    if distribution == 'gaussian':
        proj = torch.randn(dims, num_classes, generator=g, dtype=torch.float64)
    elif distribution == 'rademacher':
        proj = torch.randint(
            0, 2, (dims, num_classes), generator=g).double() * 2 - 1
    else:
        raise ConfigError(
            f"random_codes: distribution must be 'gaussian' or "
            f"'rademacher', got {distribution!r}.")
    codes = proj.t()  # column c = P e_c
    return (codes / codes.norm(dim=1, keepdim=True).clamp_min(1e-12)).float()


def symmetric_similarity(matrix: np.ndarray) -> np.ndarray:
    """``(M + M^T) / 2`` of a square matrix (float64)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ConfigError(f'Expected a square (C, C) class similarity '
                          f'matrix, got shape {m.shape}.')
    return (m + m.T) / 2


def similarity_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Class similarity from a confusion matrix.

    Rows (true classes) are normalised to sum 1 (a row without samples
    becomes the one-hot row of its class), then symmetrised.

    Args:
        confusion (np.ndarray): ``(C, C)`` counts, rows = true class,
            columns = predicted class.

    Returns:
        np.ndarray: ``(C, C)`` float64 symmetric similarity.
    """
    m = np.asarray(confusion, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ConfigError(
            f'similarity_from_confusion: expected a square (C, C) matrix, '
            f'got shape {m.shape}.')
    if (m < 0).any():
        raise ConfigError('similarity_from_confusion: the confusion matrix '
                          'has negative entries.')
    rows = m.sum(1, keepdims=True)
    empty = rows[:, 0] == 0
    m = np.where(rows > 0, m / np.where(rows > 0, rows, 1), 0.)
    m[empty, empty] = 1.
    return symmetric_similarity(m)


def similarity_from_scores(scores: Tensor, labels: Tensor,
                           num_classes: int) -> np.ndarray:
    """Class similarity from a trained model's class probabilities.

    Row ``c`` is the mean probability vector of the images of class ``c``
    (a class without images gets its one-hot row); the result is
    symmetrised.

    Args:
        scores (Tensor): ``(N, C)`` softmax scores.
        labels (Tensor): ``(N,)`` int64 true classes.
        num_classes (int): ``C``.

    Returns:
        np.ndarray: ``(C, C)`` float64 symmetric similarity.
    """
    scores = scores.double()
    sums = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    sums.index_add_(0, labels.long(), scores)
    counts = torch.bincount(labels.long(), minlength=num_classes).double()
    mean = sums / counts.clamp_min(1).unsqueeze(1)
    empty = counts == 0
    mean[empty, empty] = 1.
    return symmetric_similarity(mean.numpy())


def eigen_codes(similarity,
                dims: int,
                return_eigenvalues: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Normalised eigen-representation of a class similarity matrix.

    Args:
        similarity (array-like): ``(C, C)`` symmetric similarity (it is
            symmetrised again, so a slightly asymmetric matrix is fine).
        dims (int): code length ``d <= C``.
        return_eigenvalues (bool): also return the ``d`` eigenvalues
            (float64, decreasing).

    Returns:
        Tensor | tuple[Tensor, Tensor]: float32 ``(C, d)`` codes; row ``c``
        is row ``c`` of ``V_d diag(sqrt(max(lam_d, 0)))`` (eigenvectors of
        the ``d`` largest eigenvalues, in decreasing order) divided by its
        length.
        Eigenvector signs are fixed so that each column's largest-magnitude
        entry is positive (deterministic codes).
    """
    s = torch.as_tensor(symmetric_similarity(similarity))
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ConfigError(f'eigen_codes: expected a square similarity '
                          f'matrix, got shape {tuple(s.shape)}.')
    C = s.shape[0]
    if not 1 <= dims <= C:
        raise ConfigError(f'eigen_codes: dims must be in [1, {C}] for a '
                          f'{C}-class similarity matrix, got {dims}.')
    lam, vec = torch.linalg.eigh(s)  # ascending
    lam = lam.flip(0)[:dims]
    vec = vec.flip(1)[:, :dims]
    # deterministic signs
    pivot = vec.abs().argmax(0)
    sign = torch.sign(vec.gather(0, pivot.unsqueeze(0))).squeeze(0)
    vec = vec * torch.where(sign == 0, torch.ones_like(sign), sign)
    codes = vec * lam.clamp_min(0).sqrt().unsqueeze(0)
    norm = codes.norm(dim=1, keepdim=True)
    if (norm < 1e-12).any():
        bad = torch.nonzero(norm[:, 0] < 1e-12)[:, 0].tolist()
        raise ConfigError(
            f'eigen_codes: classes {bad} get a zero code from the top-{dims} '
            'eigenvectors (their similarity rows live in the discarded '
            'eigenspaces or the eigenvalues are <= 0). Use a larger dims or '
            'a similarity matrix with a positive diagonal.')
    codes = (codes / norm).float()
    return (codes, lam) if return_eigenvalues else codes


def load_codes_file(
        path: str,
        num_classes: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Read a codes file (see the module docstring for the format).

    Args:
        path (str): ``.npz`` (keys ``similarity`` and/or ``codes``) or
            ``.npy`` (a ``(C, C)`` similarity matrix).
        num_classes (int, optional): expected ``C``; a mismatch raises.

    Returns:
        dict: the arrays found (``similarity``, ``codes``, ``eigenvalues``,
        ``classes``).

    Raises:
        DatasetNotFoundError: the file does not exist.
        ConfigError: unreadable file, wrong keys or shapes, or a class count
            different from ``num_classes``.
    """
    if not osp.isfile(path):
        raise DatasetNotFoundError(
            path, 'class codes file',
            'Build it with tools/analysis_tools/build_class_codes.py '
            '(from a trained model or a confusion matrix).')
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any numpy read error
        raise ConfigError(f'Cannot read class codes file "{path}": {e}. '
                          'Expected a .npz (similarity/codes) or a .npy '
                          '(C, C) similarity matrix.') from None
    if isinstance(loaded, np.ndarray):
        out = dict(similarity=loaded)
    else:
        out = {k: loaded[k] for k in loaded.files}
        if 'similarity' not in out and 'codes' not in out:
            raise ConfigError(
                f'Class codes file "{path}" has keys {sorted(out)}, but '
                "needs 'similarity' (C, C) and/or 'codes' (C, d).")
    sim = out.get('similarity')
    if sim is not None and (sim.ndim != 2 or sim.shape[0] != sim.shape[1]):
        raise ConfigError(f'Class codes file "{path}": similarity must be '
                          f'(C, C), got shape {sim.shape}.')
    codes = out.get('codes')
    if codes is not None and codes.ndim != 2:
        raise ConfigError(f'Class codes file "{path}": codes must be '
                          f'(C, d), got shape {codes.shape}.')
    C = sim.shape[0] if sim is not None else codes.shape[0]
    if codes is not None and codes.shape[0] != C:
        raise ConfigError(
            f'Class codes file "{path}": codes has {codes.shape[0]} rows but '
            f'the similarity matrix has {C} classes.')
    if num_classes is not None and C != num_classes:
        raise ConfigError(
            f'Class codes file "{path}" describes {C} classes, but the model '
            f'has num_classes={num_classes}. Rebuild the file for this '
            'dataset (build_class_codes.py) or fix num_classes.')
    return out


def save_codes_file(path: str,
                    similarity: np.ndarray,
                    codes: Optional[np.ndarray] = None,
                    eigenvalues: Optional[np.ndarray] = None,
                    classes: Optional[Sequence[str]] = None) -> None:
    """Write a codes file (``.npz``, see the module docstring)."""
    arrays = dict(similarity=np.asarray(similarity, dtype=np.float64))
    if codes is not None:
        arrays['codes'] = np.asarray(codes, dtype=np.float32)
    if eigenvalues is not None:
        arrays['eigenvalues'] = np.asarray(eigenvalues, dtype=np.float64)
    if classes is not None:
        arrays['classes'] = np.asarray([str(c) for c in classes])
    np.savez(path, **arrays)

"""Class codes: random projections, eigen-representation on matrices with
known eigenvectors, similarity from confusion / scores, codes files."""
import numpy as np
import pytest
import torch

from mmfg.models.utils.class_codes import (eigen_codes, load_codes_file,
                                           random_codes, save_codes_file,
                                           similarity_from_confusion,
                                           similarity_from_scores)
from mmfg.utils.errors import ConfigError, DatasetNotFoundError


def test_random_codes_shape_norm_seed():
    c = random_codes(20, 8, seed=3)
    assert c.shape == (20, 8) and c.dtype == torch.float32
    assert torch.allclose(c.norm(dim=1), torch.ones(20), atol=1e-6)
    assert torch.equal(c, random_codes(20, 8, seed=3))
    assert not torch.allclose(c, random_codes(20, 8, seed=4))
    r = random_codes(6, 4, seed=0, distribution='rademacher')
    # +-1 entries scaled by 1/sqrt(d)
    assert torch.allclose(r.abs(), torch.full((6, 4), 0.5))
    with pytest.raises(ConfigError, match='distribution'):
        random_codes(6, 4, distribution='uniform')


def test_random_codes_are_projections_of_one_hot():
    # column c of the seeded (d, C) matrix = P e_c
    g = torch.Generator().manual_seed(7)
    proj = torch.randn(5, 9, generator=g, dtype=torch.float64)
    onehot = torch.eye(9, dtype=torch.float64)
    expect = (proj @ onehot).t()
    expect = expect / expect.norm(dim=1, keepdim=True)
    assert torch.allclose(random_codes(9, 5, seed=7), expect.float())


def _block_similarity(sizes, a=0.6):
    C = sum(sizes)
    block = np.zeros((C, C))
    start = 0
    for s in sizes:
        block[start:start + s, start:start + s] = 1
        start += s
    return (1 - a) * np.eye(C) + a * block, block


def test_eigen_codes_block_diagonal():
    # S = (1-a) I + a B: top eigenvectors are the block indicators
    # (eigenvalues (1-a) + a * size), so with d = #blocks the normalised
    # codes of two classes coincide iff they share a block: codes codes^T = B
    sim, block = _block_similarity([3, 4, 2])
    codes, lam = eigen_codes(sim, 3, return_eigenvalues=True)
    assert codes.shape == (9, 3)
    assert torch.allclose(lam, torch.tensor([0.4 + 0.6 * 4, 0.4 + 0.6 * 3,
                                             0.4 + 0.6 * 2],
                                            dtype=torch.float64))
    assert torch.allclose(codes @ codes.t(), torch.tensor(block).float(),
                          atol=1e-5)
    # the first code axis is the largest block (classes 3..6), positive
    assert torch.allclose(codes[3:7, 0], torch.ones(4), atol=1e-5)


def test_eigen_codes_full_rank_identity():
    # d = C: codes = V diag(sqrt(lam)) normalised, so the Gram matrix of the
    # unnormalised rows is S itself: codes codes^T = S / sqrt(s_ii s_jj)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 6))
    sim = x @ x.T + np.eye(6)
    codes = eigen_codes(sim, 6).double()
    d = np.sqrt(np.diag(sim))
    assert np.allclose((codes @ codes.t()).numpy(), sim / np.outer(d, d),
                       atol=1e-5)
    # columns orthogonal before normalisation: check on unnormalised rows
    un = codes * torch.tensor(d)[:, None]
    gram = un.t() @ un
    assert torch.allclose(gram, torch.diag(torch.diag(gram)), atol=1e-4)


def test_eigen_codes_errors():
    with pytest.raises(ConfigError, match='dims'):
        eigen_codes(np.eye(3), 4)
    with pytest.raises(ConfigError, match='square'):
        eigen_codes(np.ones((2, 3)), 1)
    # block similarity without identity: d=1 gives zero codes for block 2
    _, block = _block_similarity([2, 2])
    with pytest.raises(ConfigError, match='zero code'):
        eigen_codes(block, 1)


def test_similarity_from_confusion_hand_checked():
    conf = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    sim = similarity_from_confusion(conf)
    m = np.array([[0.8, 0.2, 0], [0.25, 0.75, 0], [0, 0, 1]])
    assert np.allclose(sim, (m + m.T) / 2)
    with pytest.raises(ConfigError, match='square'):
        similarity_from_confusion(np.ones((2, 3)))
    with pytest.raises(ConfigError, match='negative'):
        similarity_from_confusion(-np.eye(2))


def test_similarity_from_scores_equals_class_means():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(10, 4, generator=g).softmax(1)
    labels = torch.tensor([0, 1, 1, 0, 2, 2, 2, 0, 1, 1])
    sim = similarity_from_scores(scores, labels, 4)
    mean = np.stack([
        scores[labels == c].double().mean(0).numpy() if (labels == c).any()
        else np.eye(4)[c] for c in range(4)
    ])
    assert np.allclose(sim, (mean + mean.T) / 2)


def test_codes_file_roundtrip_and_errors(tmp_path):
    sim, _ = _block_similarity([2, 3])
    path = str(tmp_path / 'codes.npz')
    save_codes_file(path, sim, np.ones((5, 2)), np.ones(2), list('abcde'))
    got = load_codes_file(path, 5)
    assert np.allclose(got['similarity'], sim)
    assert got['codes'].shape == (5, 2)
    assert list(got['classes']) == list('abcde')
    with pytest.raises(ConfigError, match='num_classes=7'):
        load_codes_file(path, 7)
    with pytest.raises(DatasetNotFoundError, match='build_class_codes'):
        load_codes_file(str(tmp_path / 'missing.npz'))
    np.save(str(tmp_path / 'sim.npy'), sim)
    assert np.allclose(
        load_codes_file(str(tmp_path / 'sim.npy'))['similarity'], sim)
    np.savez(str(tmp_path / 'bad.npz'), other=np.eye(2))
    with pytest.raises(ConfigError, match="needs 'similarity'"):
        load_codes_file(str(tmp_path / 'bad.npz'))
    (tmp_path / 'junk.npz').write_text('not numpy')
    with pytest.raises(ConfigError, match='Cannot read'):
        load_codes_file(str(tmp_path / 'junk.npz'))

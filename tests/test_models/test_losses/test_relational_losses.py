"""RKD distance and angle losses against slow loop references."""
import math

import pytest
import torch

from mmfg.models.losses.relational_losses import (rkd_angle_loss,
                                                  rkd_angle_tensor,
                                                  rkd_distance_loss,
                                                  rkd_distance_matrix)
from mmfg.registry import MODELS


def _huber(x, beta=1.0):
    x = abs(x)
    return 0.5 * x * x / beta if x < beta else x - 0.5 * beta


def _slow_dist(x):
    n = len(x)
    d = [[math.dist(x[i].tolist(), x[j].tolist()) for j in range(n)]
         for i in range(n)]
    mean = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (
        n * (n - 1))
    return [[v / mean for v in row] for row in d]


def _slow_angles(x):
    n = len(x)
    out = {}
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if j == i or k == i:
                    continue
                a = (x[j] - x[i]).double()
                b = (x[k] - x[i]).double()
                out[i, j, k] = float(a @ b / (a.norm() * b.norm()))
    return out


def _data(n=6, d_s=5, d_t=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d_s, generator=g),
            torch.randn(n, d_t, generator=g) * 3)


def test_distance_matrix_equals_definition():
    s, _ = _data()
    slow = torch.tensor(_slow_dist(s))
    assert torch.allclose(rkd_distance_matrix(s), slow.float(), atol=1e-5)


def test_angle_tensor_equals_definition():
    s, _ = _data()
    fast = rkd_angle_tensor(s.double())
    for (i, j, k), v in _slow_angles(s).items():
        assert abs(float(fast[i, j, k]) - v) < 1e-6
    assert float(fast[2, 2, 3]) == 0 and float(fast[1, 4, 1]) == 0


@pytest.mark.parametrize('beta', [1.0, 0.1])
def test_losses_equal_slow_references(beta):
    s, t = _data()
    n = s.shape[0]
    ds, dt = _slow_dist(s), _slow_dist(t)
    expect_d = sum(
        _huber(ds[i][j] - dt[i][j], beta) for i in range(n)
        for j in range(n) if i != j) / (n * (n - 1))
    assert abs(float(rkd_distance_loss(s, t, beta)) - expect_d) < 1e-5
    a_s, a_t = _slow_angles(s), _slow_angles(t)
    expect_a = sum(_huber(a_s[key] - a_t[key], beta)
                   for key in a_s) / len(a_s)
    assert len(a_s) == n * (n - 1)**2
    assert abs(float(rkd_angle_loss(s, t, beta)) - expect_a) < 1e-5


def test_identities_and_gradients():
    s, _ = _data()
    loss = MODELS.build(dict(type='RKDLoss'))
    # relations are invariant to scale, rotation and translation
    q, _ = torch.linalg.qr(torch.randn(5, 5))
    assert float(loss(s, 3 * s @ q + 1.5)) < 1e-6
    student = s.clone().requires_grad_(True)
    teacher = torch.randn(6, 8, requires_grad=True)
    parts = loss(student, teacher, return_parts=True)
    assert torch.allclose(
        parts['angle'], 2 * rkd_angle_loss(student, teacher))
    (parts['distance'] + parts['angle']).backward()
    assert student.grad.abs().sum() > 0
    assert teacher.grad is None  # the teacher is never trained by it
    with pytest.raises(ValueError, match='same batch'):
        loss(s, s[:3])

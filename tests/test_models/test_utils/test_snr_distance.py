import pytest
import torch

from mmfg.models.utils import pairwise_distance, snr_distance


def _snr_definition(a, b):
    out = torch.empty(a.shape[0], b.shape[0], dtype=a.dtype)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = torch.var(b[j] - a[i]) / torch.var(a[i])
    return out


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10),
                                       (torch.float32, 1e-5)])
def test_snr_distance_equals_definition(dtype, tol):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, 33, generator=g, dtype=dtype) * 3 + 1.5
    b = torch.randn(5, 33, generator=g, dtype=dtype) - 0.7
    ref = _snr_definition(a.double(), b.double())
    got = snr_distance(a, b).double()
    torch.testing.assert_close(got, ref, rtol=tol, atol=tol)
    # not symmetric: the anchor's variance is the signal
    assert not torch.allclose(snr_distance(b, a), got.t().to(dtype))


def test_snr_distance_hand_values():
    a = torch.tensor([[1., 2., 3.]])  # var 1
    b = torch.tensor([[1., 2., 3.], [3., 2., 1.], [11., 12., 13.]])
    # b - a: [0,0,0] var 0; [2,0,-2] var 4; [10,10,10] var 0 (a shift)
    torch.testing.assert_close(snr_distance(a, b), torch.tensor([[0., 4.,
                                                                  0.]]))


def test_snr_distance_gradient_matches_definition():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(4, 9, generator=g, dtype=torch.float64,
                    requires_grad=True)
    b = torch.randn(3, 9, generator=g, dtype=torch.float64)
    (snr_distance(a, b) * torch.arange(12.).view(4, 3)).sum().backward()
    ga = a.grad.clone()
    a.grad = None
    (_snr_definition(a, b) * torch.arange(12.).view(4, 3)).sum().backward()
    torch.testing.assert_close(ga, a.grad)


def test_pairwise_distance_names():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 4, generator=g), torch.randn(5, 4, generator=g)
    torch.testing.assert_close(pairwise_distance(a, b, 'l2'),
                               torch.cdist(a, b), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pairwise_distance(a, b, 'squared_l2'),
                               torch.cdist(a, b)**2, atol=1e-5, rtol=1e-5)
    cos = torch.nn.functional.cosine_similarity(a[:, None], b[None], dim=-1)
    torch.testing.assert_close(pairwise_distance(a, b, 'cosine'), 1 - cos)
    with pytest.raises(ValueError, match='distance must be one of'):
        pairwise_distance(a, b, 'manhattan')


def test_snr_distance_invariances_and_normalised_form():
    """SNR ignores a common scale and per-row shifts (so its triplet margin
    needs no L2 normalisation, unlike L2's); on L2-normalised, centred rows
    it is the squared L2 distance."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(4, 16, generator=g, dtype=torch.float64)
    b = torch.randn(6, 16, generator=g, dtype=torch.float64)
    d = snr_distance(a, b)
    shift_a = torch.randn(4, 1, generator=g, dtype=torch.float64)
    shift_b = torch.randn(6, 1, generator=g, dtype=torch.float64)
    torch.testing.assert_close(snr_distance(7.5 * a, 7.5 * b), d)
    torch.testing.assert_close(snr_distance(a + shift_a, b + shift_b), d)
    # a scale on one side only changes it (the noise is relative)
    assert not torch.allclose(snr_distance(a, 2 * b), d)
    unit = torch.nn.functional.normalize(a - a.mean(1, keepdim=True), dim=1)
    torch.testing.assert_close(
        snr_distance(unit, unit), torch.cdist(unit, unit)**2)

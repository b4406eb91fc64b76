import pytest
import torch

from mmfg.registry import MODELS


@pytest.mark.parametrize('gated', [False, True])
def test_attention_mil_weights_are_softmax_reference(gated):
    torch.manual_seed(0)
    mil = MODELS.build(dict(type='AttentionMILPooling', in_channels=8,
                            hidden_channels=5, gated=gated))
    x = torch.randn(3, 7, 8)
    values = torch.randn(3, 7, 4)
    pooled, w = mil(x, values)
    torch.testing.assert_close(w.sum(1), torch.ones(3))
    h = torch.tanh(x @ mil.attention_v.weight.T + mil.attention_v.bias)
    if gated:
        h = h * torch.sigmoid(x @ mil.attention_u.weight.T +
                              mil.attention_u.bias)
    s = (h @ mil.attention_w.weight.T + mil.attention_w.bias).squeeze(-1)
    ref = torch.exp(s) / torch.exp(s).sum(1, keepdim=True)
    torch.testing.assert_close(w, ref)
    torch.testing.assert_close(pooled, (ref[..., None] * values).sum(1))


def test_attention_mil_mask_and_shape_error():
    mil = MODELS.build(dict(type='AttentionMILPooling', in_channels=4))
    x = torch.randn(2, 5, 4)
    mask = torch.tensor([[True, True, False, False, False]] * 2)
    _, w = mil(x, mask=mask)
    assert torch.all(w[:, 2:] == 0)
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    with pytest.raises(ValueError, match='AttentionMILPooling'):
        mil(torch.randn(2, 5, 3))

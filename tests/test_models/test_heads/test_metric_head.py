import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.models.heads import EmbeddingHead
from mmfg.models.losses import TripletLoss
from mmfg.registry import MODELS


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def test_head_loss_equals_loss_of_embeddings():
    head = MODELS.build(dict(
        type='EmbeddingHead', in_channels=6, embed_dim=4, normalize=True,
        loss=dict(type='TripletLoss', distance='snr', miner='all'),
        regularizer=dict(type='ZeroMeanRegularizer', loss_weight=0.5)))
    head.init_weights()
    g = torch.Generator().manual_seed(0)
    feats = (torch.randn(8, 6, 1, 1, generator=g), )
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    losses = head.loss(feats, _samples(labels))
    emb = torch.nn.functional.normalize(
        feats[0].flatten(1) @ head.fc.weight.t() + head.fc.bias, dim=1)
    ref = TripletLoss(distance='snr', miner='all')(emb, labels)
    torch.testing.assert_close(losses['loss_metric'], ref)
    torch.testing.assert_close(losses['loss_reg'],
                               0.5 * emb.sum(1).abs().mean())
    sum(losses.values()).backward()
    assert head.fc.weight.grad is not None


def test_head_predict_sets_embedding():
    head = EmbeddingHead(in_channels=5, embed_dim=3, normalize=True)
    feats = torch.randn(4, 5)
    out = head.predict((feats, ))
    assert len(out) == 4
    expected = torch.nn.functional.normalize(head.fc(feats), dim=1)
    for i, ds in enumerate(out):
        torch.testing.assert_close(ds.embedding, expected[i])
    kept = _samples([1, 2])
    out = head.predict(feats[:2], kept)
    assert out[0] is kept[0] and out[1].gt_label.item() == 2


def test_image_classifier_trains_and_predicts():
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='EmbeddingHead', in_channels=64, embed_dim=8,
                  loss=dict(type='TripletLoss', miner='batch-hard'))))
    x = torch.randn(4, 3, 32, 32)
    losses = model(x, _samples([0, 0, 1, 1]), mode='loss')
    assert set(losses) == {'loss_metric'}
    assert losses['loss_metric'].requires_grad
    model.eval()
    preds = model(x, _samples([0, 0, 1, 1]), mode='predict')
    assert preds[0].embedding.shape == (8, )
    with pytest.raises(KeyError):
        MODELS.build(dict(type='EmbeddingHead', in_channels=4,
                          loss=dict(type='NoSuchLoss')))

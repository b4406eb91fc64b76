"""TargetEmbeddingHead: codes buffer (seeded, in the state dict), loss
against hand-made targets, nearest-code decoding against a slow loop,
eigen/file codes from a codes file, clear config errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmfg.models.utils.class_codes import (eigen_codes, random_codes,
                                           save_codes_file)
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError, DatasetNotFoundError


def _head(**kw):
    cfg = dict(type='TargetEmbeddingHead', num_classes=7, in_channels=5,
               embed_dims=3)
    cfg.update(kw)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _samples(labels):
    return [DataSample().set_gt_label(int(c)) for c in labels]


def test_codes_buffer_seeded_and_in_state_dict():
    head = _head(codes=dict(type='random', seed=5))
    assert torch.equal(head.codes, random_codes(7, 3, seed=5))
    sd = head.state_dict()
    assert 'codes' in sd
    other = _head(codes=dict(type='random', seed=6))
    assert not torch.equal(other.codes, head.codes)
    other.load_state_dict(sd)  # the checkpoint brings its codes
    assert torch.equal(other.codes, head.codes)


@pytest.mark.parametrize('mode', ['mse', 'smooth_l1', 'cosine'])
def test_loss_regresses_to_class_codes(mode):
    head = _head(loss=dict(type='CodeRegressionLoss', mode=mode))
    feats = torch.randn(4, 5)
    labels = torch.tensor([0, 3, 6, 3])
    out = head((feats, ))
    target = head.codes[labels]
    if mode == 'mse':
        expect = ((out - target)**2).mean()
    elif mode == 'smooth_l1':
        expect = F.smooth_l1_loss(out, target)
    else:
        expect = (1 - F.cosine_similarity(out, target)).mean()
    loss = head.loss((feats, ), _samples(labels))['loss']
    assert torch.allclose(loss, expect, atol=1e-6)
    loss.backward()
    assert head.fc.weight.grad.abs().sum() > 0


def test_soft_labels_target_the_mixed_code():
    head = _head()
    feats = torch.randn(2, 5)
    score = torch.tensor([[0.3, 0.7, 0, 0, 0, 0, 0],
                          [0, 0, 0, 0, 0, 0, 1.]])
    samples = [DataSample().set_gt_score(s) for s in score]
    out = head((feats, ))
    target = 0.3 * head.codes[0] + 0.7 * head.codes[1]
    target = torch.stack([target, head.codes[6]])
    expect = ((out - target)**2).mean()
    assert torch.allclose(head.loss((feats, ), samples)['loss'], expect)


@pytest.mark.parametrize('distance', ['l2', 'cosine'])
def test_decoding_equals_slow_nearest_code_loop(distance):
    head = _head(distance=distance, temperature=0.5)
    with torch.no_grad():
        head.fc.weight.normal_()
    feats = torch.randn(9, 5)
    preds = head.predict((feats, ))
    out = head((feats, )).detach()
    for i, ds in enumerate(preds):
        dists = []
        for c in range(7):
            if distance == 'l2':
                dists.append(float(((out[i] - head.codes[c])**2).sum()))
            else:
                dists.append(1 - float(
                    F.cosine_similarity(out[i], head.codes[c], dim=0)))
        best = min(range(7), key=lambda c: dists[c])
        assert int(ds.pred_label) == best
        expect = torch.softmax(-torch.tensor(dists) / 0.5, 0)
        assert torch.allclose(ds.pred_score, expect, atol=1e-5)
        assert torch.allclose(ds.embedding, out[i])


def test_cal_acc_counts_decoded_labels():
    head = _head(cal_acc=True)
    with torch.no_grad():  # output = feature -> code space identity
        head.fc.weight.zero_()
        head.fc.bias.zero_()
    codes = head.codes
    # features whose first 3 dims are the codes of classes 0, 1 and 2
    head.fc.weight.data[:, :3] = torch.eye(3)
    feats = torch.zeros(3, 5)
    feats[:, :3] = codes[:3]
    losses = head.loss((feats, ), _samples([0, 1, 5]))
    assert torch.allclose(losses['accuracy_top-1'], torch.tensor(200 / 3))


def test_eigen_and_file_codes(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((7, 7))
    sim = x @ x.T + np.eye(7)
    path = str(tmp_path / 'codes.npz')
    save_codes_file(path, sim, codes=np.ones((7, 3)) / np.sqrt(3))
    head = _head(codes=dict(type='eigen', file=path))
    assert torch.allclose(head.codes, eigen_codes(sim, 3))
    head = _head(codes=dict(type='file', file=path))
    assert torch.allclose(head.codes, torch.full((7, 3), 3**-0.5))
    with pytest.raises(ConfigError, match='embed_dims=4'):
        _head(embed_dims=4, codes=dict(type='file', file=path))
    with pytest.raises(ConfigError, match='num_classes=9'):
        _head(num_classes=9, codes=dict(type='eigen', file=path))
    with pytest.raises(DatasetNotFoundError, match='build_class_codes'):
        _head(codes=dict(type='eigen', file=str(tmp_path / 'no.npz')))
    with pytest.raises(ConfigError, match="needs file="):
        _head(codes=dict(type='eigen'))
    with pytest.raises(ConfigError, match="'random', 'eigen' or 'file'"):
        _head(codes=dict(type='hadamard'))
    with pytest.raises(ConfigError, match='distance'):
        _head(distance='snr')


def test_in_image_classifier_train_and_predict():
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, base_channels=8,
                          stem_channels=8, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='TargetEmbeddingHead', num_classes=7,
                      in_channels=64, embed_dims=3)))
    imgs = torch.randn(2, 3, 32, 32)
    losses = model(imgs, _samples([1, 4]), mode='loss')
    losses['loss'].backward()
    preds = model(imgs, _samples([1, 4]), mode='predict')
    assert preds[0].pred_score.shape == (7, )
    assert preds[0].embedding.shape == (3, )


def test_softmax_mode_is_cross_entropy_of_pred_score_logits():
    head = _head(loss=dict(type='CodeRegressionLoss', mode='softmax'))
    feats = torch.randn(4, 5)
    labels = torch.tensor([0, 3, 6, 3])
    loss = head.loss((feats, ), _samples(labels))['loss']
    dist = head.code_distances(head((feats, )))
    assert torch.allclose(loss, F.cross_entropy(-dist, labels), atol=1e-6)

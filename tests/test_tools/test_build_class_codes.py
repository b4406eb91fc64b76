"""tools/analysis_tools/build_class_codes.py: from a confusion matrix
(values checked), from a model's outputs (class means of pred_score), and
clear errors for wrong class counts and malformed files."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from mmfg.models.utils.class_codes import eigen_codes, load_codes_file
from mmfg.utils.errors import ConfigError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import build_class_codes as tool  # noqa: E402


def test_from_confusion_text(tmp_path):
    conf = tmp_path / 'conf.txt'
    conf.write_text('8 2 0\n1, 3, 0\n0 0 5\n')
    out = tool.main(['--confusion', str(conf), '--num-classes', '3',
                     '--dims', '2', '--out', str(tmp_path / 'codes')])
    assert out.endswith('.npz')
    got = load_codes_file(out, 3)
    m = np.array([[0.8, 0.2, 0], [0.25, 0.75, 0], [0, 0, 1]])
    assert np.allclose(got['similarity'], (m + m.T) / 2)
    assert np.allclose(got['codes'], eigen_codes(got['similarity'], 2))
    assert got['eigenvalues'].shape == (2, )
    assert got['eigenvalues'][0] >= got['eigenvalues'][1]


def test_confusion_errors(tmp_path, capsys):
    conf = tmp_path / 'conf.npy'
    np.save(str(conf), np.eye(4))
    with pytest.raises(ConfigError, match='--num-classes is 5'):
        tool.main(['--confusion', str(conf), '--num-classes', '5',
                   '--out', str(tmp_path / 'c.npz')])
    ragged = tmp_path / 'ragged.txt'
    ragged.write_text('1 2\n3\n')
    with pytest.raises(ConfigError, match='different lengths'):
        tool.main(['--confusion', str(ragged), '--out', str(tmp_path / 'c')])
    words = tmp_path / 'words.txt'
    words.write_text('a b\nc d\n')
    with pytest.raises(ConfigError, match='cannot parse'):
        tool.main(['--confusion', str(words), '--out', str(tmp_path / 'c')])
    np.save(str(tmp_path / 'rect.npy'), np.ones((2, 3)))
    with pytest.raises(ConfigError, match='square'):
        tool.main(['--confusion', str(tmp_path / 'rect.npy'), '--out',
                   str(tmp_path / 'c')])
    # the command line prints the error and exits 1, no traceback
    code = tool.cli(['--confusion', str(tmp_path / 'missing.txt'), '--out',
                     str(tmp_path / 'c')])
    err = capsys.readouterr().err
    assert code == 1
    assert 'missing.txt' in err and 'Traceback' not in err


def test_from_model_outputs(tiny_config, tmp_path, monkeypatch):
    from mmfg.apis import init_model
    model = init_model(tiny_config)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    scores, labels, classes = tool.model_scores(tiny_config, ckpt, 'train',
                                                'cpu')
    assert scores.shape[1] == 4 and len(classes) == 4
    assert torch.allclose(scores.sum(1), torch.ones(len(scores)))
    # score the dataset once; main() reuses the result
    monkeypatch.setattr(tool, 'model_scores',
                        lambda *a: (scores, labels, classes))
    out = tool.main(['--config', tiny_config, '--checkpoint', ckpt,
                     '--split', 'train', '--dims', '3', '--out',
                     str(tmp_path / 'codes.npz')])
    got = load_codes_file(out, 4)
    mean = np.stack([scores[labels == c].double().mean(0).numpy()
                     for c in range(4)])
    assert np.allclose(got['similarity'], (mean + mean.T) / 2, atol=1e-6)
    assert got['codes'].shape == (4, 3)
    assert list(got['classes']) == list(classes)
    with pytest.raises(ConfigError, match='--num-classes is 7'):
        tool.main(['--config', tiny_config, '--checkpoint', ckpt,
                   '--num-classes', '7', '--out', str(tmp_path / 'x.npz')])
    monkeypatch.setattr(tool, 'model_scores',
                        lambda *a: (scores[:, :3], labels, classes))
    with pytest.raises(ConfigError, match='scores 3 classes'):
        tool.main(['--config', tiny_config, '--checkpoint', ckpt,
                   '--out', str(tmp_path / 'x.npz')])
    with pytest.raises(ConfigError, match='needs --checkpoint'):
        tool.main(['--config', tiny_config, '--out', str(tmp_path / 'x')])

import argparse
import io
import os
import pickle

import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import load_checkpoint, save_checkpoint
from torch import nn

import mmfg  # noqa: F401  (applies the loader patch)
from mmfg.utils import (UnsafeCheckpointError, safe_torch_load,
                        trusted_checkpoints)


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo unsafe-code-ran',))


def _mmengine_like_checkpoint(path):
    """What Runner.save_checkpoint writes: numpy, HistoryBuffer, Counter."""
    import collections

    import numpy as np
    buf = HistoryBuffer()
    buf.update(0.5)
    buf.update(0.25)
    ckpt = dict(
        meta=dict(epoch=2, iter=10, seed=np.int64(3), cfg='x = 1'),
        state_dict=nn.Linear(2, 3).state_dict(),
        message_hub=dict(
            log_scalars={'train/loss': buf},
            runtime_info=dict(epoch=2, arr=np.arange(3, dtype=np.float32)),
            resumed_keys={'epoch': True}),
        param_schedulers=[dict(milestones=collections.Counter({5: 1}))],
    )
    torch.save(ckpt, path)
    return ckpt


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = str(tmp_path / 'ok.pth')
    ref = _mmengine_like_checkpoint(path)
    # plain torch refuses it (this is the bug being fixed)...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    # ...mmfg's loader accepts exactly it
    got = safe_torch_load(path)
    assert got['meta']['epoch'] == 2
    buf = got['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.min() == 0.25 and buf.mean() == pytest.approx(0.375)
    assert got['param_schedulers'][0]['milestones'] == {5: 1}
    for k, v in ref['state_dict'].items():
        assert torch.equal(got['state_dict'][k], v)


def test_mmengine_load_checkpoint_is_patched(tmp_path):
    model = nn.Linear(2, 3)
    path = str(tmp_path / 'm.pth')
    buf = HistoryBuffer()
    buf.update(1.0)
    save_checkpoint(
        dict(state_dict=model.state_dict(),
             message_hub=dict(log_scalars={'a': buf})), path)
    other = nn.Linear(2, 3)
    load_checkpoint(other, path)
    assert torch.equal(other.weight, model.weight)


def test_foreign_global_is_refused(tmp_path, capfd):
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': _Evil()}, path)
    with pytest.raises(UnsafeCheckpointError) as e:
        safe_torch_load(path)
    msg = str(e.value)
    assert 'evil.pth' in msg and 'system' in msg
    assert 'MMFG_TRUSTED_CHECKPOINTS' in msg
    # also through MMEngine's loader
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(nn.Linear(2, 3), path)
    assert 'unsafe-code-ran' not in capfd.readouterr().out


def test_getattr_only_resolves_history_buffer_statistics(tmp_path):
    # A pickle that uses getattr to reach a function's globals must fail.
    class Sneaky:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = str(tmp_path / 'sneaky.pth')
    torch.save({'x': Sneaky()}, path)
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(path)


def test_trusted_opt_in(tmp_path, monkeypatch, capfd):
    path = str(tmp_path / 'custom.pth')
    # e.g. old checkpoints that pickled their argparse arguments
    torch.save({'args': argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(path)
    with trusted_checkpoints(path):
        assert safe_torch_load(path)['args'].lr == 0.1
    with pytest.raises(UnsafeCheckpointError):  # trust ends with the block
        safe_torch_load(path)
    monkeypatch.setenv('MMFG_TRUSTED_CHECKPOINTS',
                       f'/nonexistent.pth{os.pathsep}{path}')
    assert safe_torch_load(path)['args'].lr == 0.1


def test_buffer_source_named_in_error():
    bio = io.BytesIO()
    torch.save({'x': _Evil()}, bio)
    bio.seek(0)
    with pytest.raises(UnsafeCheckpointError, match='s3://bucket/ckpt.pth'):
        safe_torch_load(bio, name='s3://bucket/ckpt.pth')

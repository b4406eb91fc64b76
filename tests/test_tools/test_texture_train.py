"""End-to-end: the Gabor texture branch trains and tests through
tools/train.py + tools/test.py on a tiny SynthBirds (CPU)."""
import json
import os.path as osp
import sys

import pytest

pytestmark = pytest.mark.slow
PY = sys.executable


def test_gabor_config_trains_and_tests(tiny_config_factory, tmp_path,
                                       run_tool):
    cfg = tiny_config_factory(
        'gabor/gabor_r18_synthbirds.py',
        "model = dict(backbone=dict(base_channels=16),\n"
        "             neck=dict(in_channels=128, zoom_size=28),\n"
        "             head=dict(in_channels=128, num_classes=4))\n"
        "train_cfg = dict(max_epochs=1)\n"
        "param_scheduler = [dict(type='CosineAnnealingLR', T_max=1, "
        "by_epoch=True)]")
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir', work,
              '--out', out])
    acc = json.load(open(out))['accuracy/top1']
    assert 0.0 <= acc <= 100.0
    # the learned Gabor parameters travel in the checkpoint
    import torch
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert 'neck.bank.raw_theta' in state['state_dict']

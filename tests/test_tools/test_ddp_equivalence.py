"""``tools/dist_train.sh`` with 2 processes (gloo on CPU) trains the same
model as one process at equal global batch: 2 x 4 images per step against
1 x 8, the same weights after three SGD steps and the same validation
accuracy.

Batch statistics would differ between the two (BN on 4 vs 8 images, and
torch's SyncBatchNorm runs on CUDA only), so the tiny ResNet uses
GroupNorm; the training pipeline is deterministic (no random crop / flip)
and the sampler unshuffled, so both runs see the same 8 images per step
(rank r takes every second one) and DDP's gradient mean equals the 8-image
mean.
"""
import glob
import json
import os.path as osp
import sys

import pytest
import torch

pytestmark = pytest.mark.slow
PY = sys.executable

EXTRA = '''
model = dict(
    backbone=dict(depth=18, stem_channels=8, base_channels=8,
                  norm_cfg=dict(type='GN', num_groups=4)),
    head=dict(in_channels=64, num_classes=4))
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, gen_cfg=gen_cfg,
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
param_scheduler = []
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=3,
                 val_interval=3)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=3),
                     logger=dict(interval=1))
log_processor = dict(by_epoch=False)
'''


def _val_acc(work: str) -> float:
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1, scalars
    rows = [json.loads(line) for line in open(scalars[0])]
    return [r for r in rows if 'accuracy/top1' in r][-1]['accuracy/top1']


def _weights(work: str) -> dict:
    ckpt = torch.load(osp.join(work, 'iter_3.pth'), map_location='cpu',
                      weights_only=False)
    return ckpt['state_dict']


def _initial_weights(cfg_path: str, out: str) -> dict:
    """Both runs start from these weights (``load_from``)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmfg.registry import MODELS
    cfg = Config.fromfile(cfg_path)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmfg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state), out)
    return state


def test_two_processes_equal_one_at_same_global_batch(tiny_config_factory,
                                                      tmp_path, run_tool):
    init = str(tmp_path / 'init.pth')
    cfg = tiny_config_factory('baseline/resnet18_synthbirds.py',
                              EXTRA + f'load_from = {init!r}\n')
    w0 = _initial_weights(cfg, init)
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', one])
    proc = run_tool(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
                     two, '--cfg-options', 'train_dataloader.batch_size=4'],
                    env=dict(PORT='29631'))
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log, log[-3000:]
    w1, w2 = _weights(one), _weights(two)
    assert set(w1) == set(w2) == set(w0)
    moved = 0.0
    for key, v in w1.items():
        if v.is_floating_point():
            # same up to the float rounding of the gradient all-reduce
            torch.testing.assert_close(w2[key], v, atol=1e-5, rtol=1e-4)
            moved = max(moved, float((v - w0[key]).abs().max()))
    assert moved > 1e-3  # three steps did train
    assert _val_acc(two) == pytest.approx(_val_acc(one), abs=1e-6)

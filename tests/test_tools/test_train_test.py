"""End-to-end: tools/train.py, tools/test.py, --resume, and 2-process DDP
over gloo through tools/dist_train.sh / dist_test.sh, on SynthBirds (CPU)."""
import json
import os.path as osp
import re
import sys

import pytest

pytestmark = pytest.mark.slow
PY = sys.executable


def _acc(metrics: dict) -> float:
    return metrics['accuracy/top1']


def test_train_test_and_bad_num_classes(tiny_config, tmp_path, run_tool):
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', tiny_config, '--work-dir', work])
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', tiny_config, ckpt, '--work-dir', work,
              '--out', out])
    metrics = json.load(open(out))
    assert 0.0 <= _acc(metrics) <= 100.0

    # predictions dump
    pkl = str(tmp_path / 'pred.pkl')
    run_tool([PY, 'tools/test.py', tiny_config, ckpt, '--work-dir', work,
              '--out', pkl])
    import pickle
    preds = pickle.load(open(pkl, 'rb'))
    assert len(preds) > 0 and 'pred_label' in preds[0]

    # a head that disagrees with the dataset stops before training
    proc = run_tool([PY, 'tools/train.py', tiny_config, '--work-dir',
                     str(tmp_path / 'bad'), '--cfg-options',
                     'model.head.num_classes=7'], check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert 'num_classes = 7' in err and 'has 4 classes' in err


def test_resume_continues_from_saved_iteration(tiny_config, tmp_path,
                                               run_tool):
    work = str(tmp_path / 'work')
    # "killed" after the first epoch
    run_tool([PY, 'tools/train.py', tiny_config, '--work-dir', work,
              '--cfg-options', 'train_cfg.max_epochs=1'])
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    proc = run_tool([PY, 'tools/train.py', tiny_config, '--work-dir', work,
                     '--resume'])
    log = proc.stdout + proc.stderr
    m = re.search(r'resumed epoch: (\d+), iter: (\d+)', log)
    assert m, log[-3000:]
    assert int(m.group(1)) == 1 and int(m.group(2)) > 0
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    # the resumed run never re-ran epoch 1
    assert 'Epoch(train) [1]' not in log
    # explicit checkpoint path
    proc = run_tool([PY, 'tools/train.py', tiny_config, '--work-dir',
                     str(tmp_path / 'work2'), '--resume',
                     osp.join(work, 'epoch_1.pth')])
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr


def test_ddp_gloo_matches_single_process(tiny_config, tmp_path, run_tool):
    work = str(tmp_path / 'ddp')
    env = dict(PORT='29613')
    proc = run_tool(['bash', 'tools/dist_train.sh', tiny_config, '2',
                     '--work-dir', work], env=env)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log, log[-3000:]
    assert 'MMDistributedDataParallel' in log
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    out_ddp = str(tmp_path / 'ddp.json')
    run_tool(['bash', 'tools/dist_test.sh', tiny_config, ckpt, '2',
              '--work-dir', work, '--out', out_ddp], env=dict(PORT='29614'))
    out_one = str(tmp_path / 'one.json')
    run_tool([PY, 'tools/test.py', tiny_config, ckpt, '--work-dir', work,
              '--out', out_one])
    ddp = json.load(open(out_ddp))
    one = json.load(open(out_one))
    assert _acc(ddp) == pytest.approx(_acc(one), abs=1e-6)

"""End-to-end: BAS (configs/bas/bas_r18_synthbirds.py) through tools/train.py
and tools/test.py on a tiny SynthBirds, evaluated by LocalizationMetric with
the tau chosen on val."""
import json
import os.path as osp
import sys

import pytest

pytestmark = pytest.mark.slow
PY = sys.executable


def test_bas_train_then_test(tiny_config_factory, tmp_path, run_tool):
    thr = str(tmp_path / 'tau.json')
    extra = f'''
model = dict(backbone=dict(init_cfg=None), topk=4,
             head=dict(num_classes=4, hidden_channels=32))
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=1))
val_evaluator = [dict(type='Accuracy', topk=(1, )),
                 dict(type='LocalizationMetric', threshold='oracle',
                      cam_curve_interval=0.05, topk=(1, ),
                      save_threshold={thr!r})]
test_evaluator = [dict(type='Accuracy', topk=(1, )),
                  dict(type='LocalizationMetric', threshold={thr!r},
                       cam_curve_interval=0.05, topk=(1, ))]
'''
    cfg = tiny_config_factory('bas/bas_r18_synthbirds.py', extra)
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt) and osp.isfile(thr)
    tau = json.load(open(thr))['threshold']
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir', work, '--out',
              out])
    metrics = json.load(open(out))
    loc = {k.split('/')[-1]: v for k, v in metrics.items()}
    assert loc['threshold'] == pytest.approx(tau)
    for key in ('MaxBoxAcc', 'MaxBoxAccV2', 'GTKnownLoc', 'Top1Loc'):
        assert 0.0 <= loc[key] <= 100.0
    # Top-1 Loc needs the right class and the box: never above either
    assert loc['Top1Loc'] <= min(loc['GTKnownLoc'],
                                 metrics['accuracy/top1']) + 1e-6

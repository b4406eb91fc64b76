"""End-to-end: MetaFormer-tiny with meta trains (meta dropout schedule
logged) and one test run reports accuracy with meta and with zeroed
meta."""
import glob
import json
import os.path as osp
import sys

import pytest

pytestmark = pytest.mark.slow
PY = sys.executable

_PIPE = '''
_meta_train = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=56, crop_ratio_range=(0.7, 1.0)),
    dict(type='SpatioTemporalMeta'),
    dict(type='PackFGInputs'),
]
_meta_test = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(56, 56)),
    dict(type='SpatioTemporalMeta'),
    dict(type='PackFGInputs'),
]
_ds = dict(data_root=data_root, gen_cfg=dict(_delete_=True, **gen_cfg),
           with_meta=False)
train_dataloader = dict(batch_size=8, **_loader,
                        dataset=dict(**_ds, pipeline=_meta_train))
val_dataloader = dict(batch_size=8, **_loader,
                      dataset=dict(**_ds, pipeline=_meta_test))
test_dataloader = val_dataloader
model = dict(backbone=dict(img_size=56), head=dict(num_classes=4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, save_best='meta/top1',
                                     rule='greater'))
'''


def test_meta_train_and_two_prefix_test(tiny_config_factory, tmp_path,
                                        run_tool):
    cfg = tiny_config_factory('metaformer/metaformer-tiny_synthbirds-meta.py',
                              _PIPE)
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir', work, '--out',
              out])
    metrics = json.load(open(out))
    assert set(metrics) == {'meta/top1', 'zero_meta/top1'}
    # the data has no meta_info, so SpatioTemporalMeta gives zeros and both
    # score sets are the same predictions
    assert metrics['meta/top1'] == metrics['zero_meta/top1']
    # the training run's scalar log: <work>/<timestamp>/vis_data/<ts>.json
    log_file = sorted(glob.glob(osp.join(work, '*', 'vis_data', '*.json')))[0]
    logs = [json.loads(line) for line in open(log_file)]
    probs = [r['meta_drop_prob'] for r in logs if 'meta_drop_prob' in r]
    assert probs[0] == pytest.approx(1.0) and probs[-1] == pytest.approx(0.5)

"""End-to-end DMML on a tiny class-disjoint SynthBirds: multi-view training
(MultiView + MultiViewClsDataPreprocessor + MPerClassSampler) with update
intervals and an EMA teacher, then one test run that evaluates every member
and the ensemble (RetrievalMetric prefixes)."""
import json
import os.path as osp
import sys

import pytest

pytestmark = pytest.mark.slow
PY = sys.executable

EXTRA = '''
model = dict(
    members=dict(
        backbone=dict(base_channels=4, stem_channels=4),
        head=dict(in_channels=32, embed_dim=8)))
data_preprocessor = dict(num_classes=2)  # classes 1-2 of 4 train
train_dataloader = dict(
    batch_size=8, **_loader,
    dataset=dict(data_root=data_root, gen_cfg=gen_cfg, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=3, transforms=[[
            dict(type='RandomResizedCrop', scale=56),
            dict(type='RandomFlip', prob=0.5)]]),
        dict(type='PackFGInputs')]),
    sampler=dict(type='MPerClassSampler', m=4, batch_size=8))
param_scheduler = []
'''


def test_dmml_train_then_test_members_and_ensemble(tiny_config_factory,
                                                   tmp_path, run_tool):
    cfg = tiny_config_factory('dmml/dmml_r18_synthbirds.py', EXTRA)
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir', work, '--out',
              out])
    metrics = json.load(open(out))
    for prefix in ('member0', 'member1', 'member2', 'ensemble'):
        r1, r8 = metrics[f'{prefix}/Recall@1'], metrics[f'{prefix}/Recall@8']
        assert 0.0 <= r1 <= r8 <= 100.0
        # class-disjoint: retrieval among the 2 unseen classes only
        assert metrics[f'{prefix}/num_queries'] == 24

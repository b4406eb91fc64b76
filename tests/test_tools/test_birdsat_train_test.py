"""End-to-end: CVE-MAE with meta pre-trains on a tiny SynthBirds
cross-view set with tools/train.py, and tools/test.py reports the
ground→overhead Recall@K of the checkpoint."""
import json
import os.path as osp
import sys

import torch

PY = sys.executable
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_cvemae_train_then_cross_view_test(tmp_path, run_tool):
    base = osp.join(ROOT, 'configs', 'birdsat',
                    'cvemae-meta_vit-tiny_synthbirds-cv.py')
    data = str(tmp_path / 'sb_cv')
    cfg = tmp_path / 'cvemae_tiny.py'
    cfg.write_text(f'''
_base_ = [{base!r}]
_d = dict(data_root={data!r}, gen_cfg=dict(
    _delete_=True, num_classes=3, images_per_class=6, image_size=64,
    seed=0, difficulty='easy', with_meta=True))
_l = dict(batch_size=4, num_workers=0, persistent_workers=False)
train_dataloader = dict(**_l, dataset=_d)
val_dataloader = dict(**_l, dataset=dict(**_d, split='test'))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=1))
''')
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', str(cfg), '--work-dir', work])
    ckpt = osp.join(work, 'epoch_1.pth')
    state = torch.load(ckpt, map_location='cpu',
                       weights_only=False)['state_dict']
    # official placement: the meta embedding is the algorithm's, the ground
    # encoder (backbone.*) has none
    assert 'meta_embed.proj.location.weight' in state
    assert not any(k.startswith('backbone.meta_embed') for k in state)
    assert 'sat_backbone.cls_token' in state
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', str(cfg), ckpt, '--work-dir', work,
              '--out', out])
    metrics = json.load(open(out))
    r1, r5, r10 = (metrics[f'cross_view/Recall@{k}'] for k in (1, 5, 10))
    # 9 test pairs: recall grows with K, in percent of the 9 queries, and
    # K = 10 > 9 gallery items finds every pair
    assert 0 <= r1 <= r5 <= r10 == 100
    assert all(abs(r * 9 / 100 - round(r * 9 / 100)) < 1e-6
               for r in (r1, r5))

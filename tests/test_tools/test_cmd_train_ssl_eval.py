"""End-to-end CMD: tools/train.py (1 epoch, tiny ViT, tiny SynthBirds)
then tools/analysis_tools/ssl_eval.py on the checkpoint and on a random
initialisation."""
import importlib.util
import json
import os.path as osp
import sys

import pytest

pytestmark = pytest.mark.slow
PY = sys.executable
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tiny_config(path, data_root):
    base = osp.join(ROOT, 'configs', 'cmd', 'cmd_vit-t_synthbirds.py')
    gen_cfg = dict(num_classes=4, images_per_class=12, image_size=64,
                   seed=0, difficulty='easy')
    path.write_text(f'''
_base_ = [{base!r}]
data_root = {data_root!r}
gen_cfg = {gen_cfg!r}
embed_dims, out_channels = 32, 32
model = dict(
    backbone=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=64),
                  img_size=32, out_indices=(0, 1)),
    head=dict(in_channels=32, out_channels=32, hidden_channels=32,
              bottleneck_channels=16),
    region_head=dict(in_channels=32, out_channels=32, hidden_channels=32,
                     bottleneck_channels=16),
    mil_pooling=dict(in_channels=32, hidden_channels=16),
    loss_image=dict(out_channels=32), loss_region=dict(out_channels=32))
_g = [dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.4, 1.0))]
_l = [dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.1, 0.4))]
_ev = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)),
       dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, gen_cfg=gen_cfg, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=[2, 2], transforms=[_g, _l]),
        dict(type='PackInputs')]))
ssl_eval = dict(
    train=dict(data_root=data_root, gen_cfg=gen_cfg, pipeline=_ev),
    test=dict(data_root=data_root, gen_cfg=gen_cfg, pipeline=_ev),
    n_last_blocks=2, linear=dict(epochs=20))
max_epochs = 1
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=1)
custom_hooks = [dict(type='TeacherTempWarmupHook', start=0.04,
                     warmup_epochs=1)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=1))
''')
    return str(path)


def test_cmd_train_then_ssl_eval(synthbirds_root, tmp_path, run_tool):
    cfg = _tiny_config(tmp_path / 'cmd_tiny.py', synthbirds_root)
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'ssl.json')
    run_tool([PY, 'tools/analysis_tools/ssl_eval.py', cfg, ckpt, '--out',
              out])
    res = json.load(open(out))
    assert res['feature_dim'] == 32 and res['linear']['n_last_blocks'] == 2
    # 4 classes: top-5 covers every class
    assert res['linear']['top5'] == 100.0 and res['knn']['top5'] == 100.0
    for key in ('Rank-1', 'Rank-5', 'mAP@100'):
        assert 0.0 <= res['retrieval'][key] <= 100.0
    assert res['retrieval']['Rank-1'] <= res['retrieval']['Rank-5']


def test_ssl_eval_bad_arguments(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'ssl_eval', osp.join(ROOT, 'tools', 'analysis_tools', 'ssl_eval.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    ckpt = tmp_path / 'a.pth'
    ckpt.write_bytes(b'')
    for argv, msg in [(['c.py', str(ckpt), '--random-init'], '--random-init'),
                      (['c.py'], 'CHECKPOINT'),
                      (['c.py', str(tmp_path / 'missing.pth')],
                       'does not exist')]:
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
        assert msg in capsys.readouterr().err

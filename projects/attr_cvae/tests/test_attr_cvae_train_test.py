"""End to end on a tiny SynthBirds: tools/train.py, tools/test.py (ELBO
metric) and the sample-grid tool."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2

from projects.attr_cvae.tools.sample_grid import main as sample_grid

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
BASE = osp.join(ROOT, 'projects', 'attr_cvae', 'configs',
                'attr-cvae_conv_synthbirds.py')
GEN = dict(num_classes=3, images_per_class=6, image_size=48, seed=0,
           difficulty='easy')


def _run(args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


def test_train_test_and_grid(tmp_path, capsys):
    data_root = str(tmp_path / 'synthbirds')
    cfg = tmp_path / 'tiny_cvae.py'
    cfg.write_text(f'''
_base_ = [{BASE!r}]
data_root = {data_root!r}
gen_cfg = {GEN!r}
image_size = 16
model = dict(image_size=16, latent_dim=4, base_channels=8, hidden_dim=32,
             embed_dim=16)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='BBoxCrop', margin=0.1),
    dict(type='Resize', scale=(16, 16)),
    dict(type='PackFGInputs', algorithm_keys=('attribute_certainty', )),
]
_data = dict(data_root=data_root, gen_cfg=gen_cfg, pipeline=train_pipeline)
train_dataloader = dict(batch_size=4, dataset=_data)
val_dataloader = dict(batch_size=8, dataset=_data)
test_dataloader = dict(batch_size=8, dataset=_data)
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = []
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=2))
''')
    work = str(tmp_path / 'work')
    _run(['tools/train.py', str(cfg), '--work-dir', work])
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    _run(['tools/test.py', str(cfg), ckpt, '--work-dir', work, '--out',
          osp.join(work, 'metrics.json')])
    with open(osp.join(work, 'metrics.json')) as f:
        metrics = json.load(f)
    # ELBO of 16 x 16 x 3 continuous-BCE pixels: between -ln2 * 768 - KL
    # (an untrained model) and 0
    assert -800 < metrics['cvae/elbo'] < 0
    assert metrics['cvae/kl'] >= 0
    assert abs(metrics['cvae/elbo'] + metrics['cvae/recon_nll'] +
               metrics['cvae/kl']) < 1e-2
    grid = str(tmp_path / 'grid.png')
    sample_grid([
        str(cfg), ckpt, '--classes', '0', '2', '--attributes',
        'has_crown_color::red', '--num-samples', '3', '--scale', '1',
        '--out', grid
    ])
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])['rows'] == [
        'class 0', 'class 2', 'has_crown_color::red'
    ]
    img = cv2.imread(grid)
    assert img.shape == (3 * 18 + 2, 3 * 18 + 2, 3)

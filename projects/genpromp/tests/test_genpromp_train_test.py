"""End to end: tools/train.py (stage 1) then tools/test.py on SynthBirds."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

pytest.importorskip('diffusers', reason='GenPromp needs diffusers')
pytest.importorskip('transformers', reason='GenPromp needs transformers')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CFG = osp.join(ROOT, 'projects', 'genpromp', 'configs',
               'genpromp-stage1_tiny-sd_synthbirds.py')


def _run(args):
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    return proc


@pytest.mark.slow
def test_genpromp_train_and_test_tiny(tmp_path):
    from mmfg.datasets.synth import generate_synthbirds
    data = str(tmp_path / 'synthbirds')
    gen = dict(num_classes=4, images_per_class=8, image_size=64, seed=0,
               difficulty='easy')
    generate_synthbirds(data, progress=False, **gen)
    cfg = tmp_path / 'genpromp_tiny.py'
    cfg.write_text(f'''
_base_ = [{CFG!r}]
data_root = {data!r}
gen_cfg = {gen!r}
data_preprocessor = dict(num_classes=4)
model = dict(num_classes=4, class_names={data + '/classes.txt'!r},
             data_preprocessor=data_preprocessor)
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=8, **_loader,
                        dataset=dict(data_root=data_root, gen_cfg=gen_cfg))
val_dataloader = dict(batch_size=16, **_loader,
                      dataset=dict(data_root=data_root, gen_cfg=gen_cfg))
test_dataloader = dict(batch_size=16, **_loader,
                       dataset=dict(data_root=data_root, gen_cfg=gen_cfg))
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1))
''')
    work = str(tmp_path / 'work')
    _run(['tools/train.py', str(cfg), '--work-dir', work])
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    _run(['tools/test.py', str(cfg), ckpt, '--work-dir', work,
          '--out', osp.join(work, 'metrics.json')])
    with open(osp.join(work, 'metrics.json')) as f:
        metrics = json.load(f)
    assert 0 <= metrics['wsol/MaxBoxAccV2'] <= 100
    assert 0 <= metrics['wsol/GTKnownLoc'] <= 100
    # the stage-1 checkpoint holds the learned class rows
    import torch
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    keys = [k for k in state['state_dict'] if k.endswith('prompts')]
    assert len(keys) == 1 and state['state_dict'][keys[0]].shape[0] == 4

"""End to end: tools/train.py (stage 0, then stage 1 loading it) and
tools/test.py on a generated SynthBirds."""
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
CFG_DIR = osp.join(ROOT, 'projects', 'genpromp', 'configs')
CFG0 = osp.join(CFG_DIR, 'genpromp-stage0_tiny-sd_synthbirds.py')
CFG1 = osp.join(CFG_DIR, 'genpromp-stage1_tiny-sd_synthbirds.py')


def _run(args):
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    return proc


def _tiny_config(path, base, data, gen, extra):
    path.write_text(f'''
_base_ = [{base!r}]
data_root = {data!r}
gen_cfg = {gen!r}
data_preprocessor = dict(num_classes=4)
model = dict(num_classes=4, class_names={data + '/classes.txt'!r},
             meta_words=['bird'] * 4, data_preprocessor=data_preprocessor)
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=8, **_loader,
                        dataset=dict(data_root=data_root, gen_cfg=gen_cfg))
val_dataloader = dict(batch_size=16, **_loader,
                      dataset=dict(data_root=data_root, gen_cfg=gen_cfg))
test_dataloader = dict(batch_size=16, **_loader,
                       dataset=dict(data_root=data_root, gen_cfg=gen_cfg))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1))
''' + extra)
    return str(path)


@pytest.mark.slow
def test_genpromp_stage0_stage1_and_test_tiny(tmp_path):
    """Stage 0 (captions) -> stage 1 (load_from) -> tools/test.py."""
    import torch

    from mmfg.datasets.synth import generate_synthbirds
    data = str(tmp_path / 'synthbirds')
    gen = dict(num_classes=4, images_per_class=8, image_size=64, seed=0,
               difficulty='easy')
    generate_synthbirds(data, progress=False, **gen)
    work0, work1 = str(tmp_path / 'work0'), str(tmp_path / 'work1')
    cfg0 = _tiny_config(tmp_path / 's0.py', CFG0, data, gen,
                        'train_cfg = dict(max_epochs=1, val_interval=10)')
    _run(['tools/train.py', cfg0, '--work-dir', work0])
    ckpt0 = osp.join(work0, 'epoch_1.pth')
    cfg1 = _tiny_config(
        tmp_path / 's1.py', CFG1, data, gen,
        f'train_cfg = dict(max_epochs=1, val_interval=10)\n'
        f'load_from = {ckpt0!r}')
    _run(['tools/train.py', cfg1, '--work-dir', work1])
    ckpt1 = osp.join(work1, 'epoch_1.pth')
    _run(['tools/test.py', cfg1, ckpt1, '--work-dir', work1,
          '--out', osp.join(work1, 'metrics.json')])
    with open(osp.join(work1, 'metrics.json')) as f:
        metrics = json.load(f)
    for key in ('GTKnownLoc', 'MaxBoxAccV2', 'PxAP'):
        assert 0 <= metrics[f'wsol/{key}'] <= 100

    def state(path):
        return torch.load(path, map_location='cpu',
                          weights_only=False)['state_dict']

    s0, s1 = state(ckpt0), state(ckpt1)
    (prompts, ) = [k for k in s0 if k.endswith('prompts')]
    (table, ) = [k for k in s0 if k.endswith('token_embedding.base.weight')]
    assert s0[prompts].shape[0] == 4
    # stage 0 trained the token table and kept the class rows equal to the
    # (trained) 'bird' row; the random-init table differs from it
    bird = (s0[table] == s0[prompts][0]).all(1).nonzero()
    assert len(bird) == 1
    for c in range(4):
        assert torch.equal(s0[prompts][c], s0[table][bird[0, 0]])
    # stage 1 started from stage 0 (load_from) and trained only the rows
    unet = [k for k in s0 if k.startswith('unet.')]
    assert unet and all(torch.equal(s0[k], s1[k]) for k in unet)
    assert torch.equal(s0[table], s1[table])
    assert not torch.equal(s0[prompts], s1[prompts])

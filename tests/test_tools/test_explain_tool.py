"""End-to-end: train an interpretable model, then explain an image with
tools/analysis_tools/explain.py (the mmfg.apis path)."""
import glob
import json
import os.path as osp
import sys

import cv2
import pytest

pytestmark = pytest.mark.slow
PY = sys.executable


def test_prototree_explain_tool(tiny_config_factory, synthbirds_root,
                                tmp_path, run_tool):
    cfg = tiny_config_factory(
        'prototree/prototree_r18_synthbirds.py',
        "param_scheduler = []\n"
        "model = dict(head=dict(num_classes=4, depth=3, proto_channels=32))")
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'prototree_pruned_projected.pth')
    assert osp.isfile(ckpt)
    img = sorted(glob.glob(osp.join(synthbirds_root, 'images', '*',
                                    '*.jpg')))[0]
    out_dir = str(tmp_path / 'expl')
    proc = run_tool([PY, 'tools/analysis_tools/explain.py', cfg, ckpt, img,
                     '--out-dir', out_dir])
    stem = osp.splitext(osp.basename(img))[0]
    png = osp.join(out_dir, stem + '_explanation.png')
    js = osp.join(out_dir, stem + '_explanation.json')
    assert png in proc.stdout
    picture = cv2.imread(png)
    assert picture is not None and picture.shape[0] > 56
    expl = json.load(open(js))
    assert expl['type'] == 'prototree'
    # class names from the checkpoint's dataset_meta reach the explanation
    text = json.dumps(expl)
    assert any(name in text for name in
               open(osp.join(synthbirds_root, 'classes.txt')).read().split())


def test_protopnet_ddp_init_push_and_explain(tiny_config_factory,
                                             synthbirds_root, tmp_path,
                                             run_tool):
    """ProtoPNet through tools/dist_train.sh (2 gloo processes): salient
    prototype initialisation, push with gallery, last-layer phase; then the
    explain tool on the DDP checkpoint."""
    cfg = tiny_config_factory(
        'protopnet/protopnet_r18_synthbirds.py',
        "param_scheduler = []\n"
        "model = dict(backbone=dict(init_cfg=None),\n"
        "             head=dict(num_classes=4))\n"
        "push_dataloader = dict(\n"
        "    batch_size=8, num_workers=0, persistent_workers=False,\n"
        "    dataset=dict(type='SynthBirds', data_root=data_root,\n"
        "                 gen_cfg=gen_cfg, split='train',\n"
        "                 pipeline=test_pipeline),\n"
        "    sampler=dict(type='DefaultSampler', shuffle=False))\n"
        "custom_hooks = [\n"
        "    dict(type='FreezeModulesHook', modules=['backbone'],\n"
        "         until_epoch=1),\n"
        "    dict(type='PrototypeInitHook', dataloader=push_dataloader,\n"
        "         salient_fraction=0.25),\n"
        "    dict(type='PrototypePushHook', dataloader=push_dataloader,\n"
        "         push_epochs=[2], last_layer_epochs=1,\n"
        "         last_layer_lr=1e-3)]\n"
        "test_evaluator = [dict(type='Accuracy', topk=(1, ))]")
    work = str(tmp_path / 'work')
    proc = run_tool(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
                     work], env=dict(PORT='29617'))
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log, log[-3000:]
    assert 'PrototypeInitHook: 20 prototypes set' in log, log[-3000:]
    recs = json.load(open(osp.join(work, 'prototypes', 'epoch_2',
                                   'prototypes.json')))
    protos = recs['branches']['']
    assert len(protos) == 20 and all(r['pushed'] for r in protos)
    ckpt = osp.join(work, 'epoch_2.pth')
    img = sorted(glob.glob(osp.join(synthbirds_root, 'images', '*',
                                    '*.jpg')))[0]
    out_dir = str(tmp_path / 'expl')
    run_tool([PY, 'tools/analysis_tools/explain.py', cfg, ckpt, img,
              '--out-dir', out_dir])
    stem = osp.splitext(osp.basename(img))[0]
    expl = json.load(open(osp.join(out_dir, stem + '_explanation.json')))
    assert expl['type'] == 'protopnet'

"""End-to-end: tools/test.py with an AttributionClassifier config, then
tools/analysis_tools/attribute.py (the mmfg.apis path) on one image."""
import glob
import json
import os.path as osp
import sys

import cv2
import torch

PY = sys.executable


def test_attribution_test_and_tool(tiny_config_factory, synthbirds_root,
                                   tmp_path, run_tool):
    cfg = tiny_config_factory(
        'smdl/gradcam_r18_synthbirds.py',
        "model = dict(backbone=dict(base_channels=8),\n"
        "             head=dict(in_channels=64, num_classes=4),\n"
        "             explain_cfg=dict(steps=8))\n"
        "test_evaluator = [dict(type='Accuracy', topk=(1, )),\n"
        "                  dict(type='AttributionMetric')]\n"
        "explain_cfg = dict(method='smdl', steps=8,\n"
        "                   partition=dict(_delete_=True, type='grid',\n"
        "                                  patch=14))\n")
    from mmengine.config import Config

    from mmfg.apis import init_model
    model = init_model(Config.fromfile(cfg))
    ckpt = str(tmp_path / 'random.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    proc = run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir',
                     str(tmp_path / 'work')])
    text = proc.stdout + proc.stderr
    for key in ('attr/insertion_auc', 'attr/deletion_auc',
                'attr/pointing_game', 'attr/mass_in_box'):
        assert key in text
    img = sorted(glob.glob(osp.join(synthbirds_root, 'images', '*',
                                    '*.jpg')))[0]
    out_dir = str(tmp_path / 'attr')
    proc = run_tool([PY, 'tools/analysis_tools/attribute.py', cfg, ckpt,
                     img, '--method', 'smdl', '--out-dir', out_dir,
                     '--explain-options', 'lazy=True', 'lazy_batch=4'])
    stem = osp.splitext(osp.basename(img))[0]
    for suffix in ('.png', '_regions.png', '_curves.png'):
        path = osp.join(out_dir, f'{stem}_smdl{suffix}')
        assert path in proc.stdout
        assert cv2.imread(path) is not None
    res = json.load(open(osp.join(out_dir, f'{stem}_smdl.json')))
    assert sorted(res['order']) == list(range(16))  # 56 px / 14 px grid
    assert len(res['insertion']) == 9

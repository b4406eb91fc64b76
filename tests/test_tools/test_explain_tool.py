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

"""End-to-end CCT on the tiny SynthBirds: tools/train.py (attributes and
part keypoints reach the explanation loss), tools/test.py (accuracy and
concept-attribute agreement) and the explain tool (PNG + JSON)."""
import glob
import json
import os.path as osp
import sys

import cv2
import pytest

pytestmark = pytest.mark.slow
PY = sys.executable

TINY = """
param_scheduler = []
model = dict(
    backbone=dict(arch=dict(embed_dims=24, num_layers=1, num_heads=2,
                            feedforward_channels=48),
                  img_size=56, patch_size=8),
    head=dict(num_classes=4, in_channels=24, num_heads=2))
train_cfg = dict(max_epochs=1, val_interval=1)
"""


def test_cct_train_test_explain(tiny_config_factory, synthbirds_root,
                                tmp_path, run_tool):
    cfg = tiny_config_factory('cct/cct_vit-tiny_synthbirds.py', TINY)
    work = str(tmp_path / 'work')
    proc = run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    log = proc.stdout + proc.stderr
    assert 'loss_expl' in log and 'loss_sparsity' in log, log[-2000:]
    ckpt = osp.join(work, 'epoch_1.pth')
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir', work, '--out',
              out])
    metrics = json.load(open(out))
    assert 0 <= metrics['accuracy/top1'] <= 100
    # SynthBirds: 6 of the 28 attributes per image -> chance 6/28
    assert abs(metrics['concept/global_chance'] - 600 / 28) < 1e-3
    assert 0 <= metrics['concept/spatial_precision'] <= 100

    img = sorted(glob.glob(osp.join(synthbirds_root, 'images', '*',
                                    '*.jpg')))[0]
    out_dir = str(tmp_path / 'expl')
    run_tool([PY, 'tools/analysis_tools/explain.py', cfg, ckpt, img,
              '--out-dir', out_dir, '--topk', '2'])
    stem = osp.splitext(osp.basename(img))[0]
    picture = cv2.imread(osp.join(out_dir, stem + '_explanation.png'))
    assert picture is not None and picture.shape[1] > 3 * 56
    expl = json.load(open(osp.join(out_dir, stem + '_explanation.json')))
    assert expl['type'] == 'cct' and expl['grid'] == [7, 7]
    assert len(expl['global_concepts']) == 28
    assert len(expl['spatial_concepts']) == 2
    # attribute names from the checkpoint's dataset_meta
    assert expl['global_concepts'][0]['name'].startswith('has_')
    classes = open(osp.join(synthbirds_root, 'classes.txt')).read()
    assert expl['classes'][0]['name'] in classes

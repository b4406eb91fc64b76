"""End-to-end: train the CAM localiser, test it with the tau chosen on val
and --show-dir overlays, export pseudo boxes (tools/ entry points)."""
import glob
import json
import os.path as osp
import sys

import pytest

pytestmark = pytest.mark.slow
PY = sys.executable


def test_cam_train_val_tau_test_show_dir_and_pseudo_boxes(
        tiny_config_factory, tmp_path, run_tool):
    thr = '{work_dir}/wsol_threshold.json'  # as the shipped configs
    cfg = tiny_config_factory(
        'cam/cam_r18_synthbirds.py',
        "param_scheduler = []\n"
        "train_cfg = dict(max_epochs=1, val_interval=1)\n"
        "model = dict(backbone=dict(base_channels=8),\n"
        "             head=dict(num_classes=4, in_channels=64))\n"
        "val_evaluator = [dict(type='LocalizationMetric', topk=(1, ),\n"
        f"    threshold='oracle', cam_curve_interval=0.01,"
        f" save_threshold={thr!r})]\n"
        "test_evaluator = [dict(type='LocalizationMetric', topk=(1, ),\n"
        f"    threshold={thr!r}, cam_curve_interval=0.01)]\n")
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    # written by the val run into the run's own --work-dir
    saved = json.load(open(osp.join(work, 'wsol_threshold.json')))
    assert not osp.exists(osp.join(tmp_path, '{work_dir}'))
    ckpt = osp.join(work, 'epoch_1.pth')
    show = str(tmp_path / 'show')
    out = str(tmp_path / 'metrics.json')
    # the test run has another work dir and reads tau next to the checkpoint
    run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir',
              str(tmp_path / 'test_work'), '--show-dir', show, '--interval',
              '4', '--out', out])
    metrics = json.load(open(out))
    assert metrics['wsol/threshold'] == pytest.approx(saved['threshold'])
    for key in ('MaxBoxAcc', 'MaxBoxAccV2', 'GTKnownLoc', 'Top1Loc'):
        assert 0 <= metrics[f'wsol/{key}'] <= 100
    assert glob.glob(osp.join(show, '*_loc.png'))
    # only mmfg's overlays, not also MMPretrain's label drawing per image
    drawn = [f for f in glob.glob(osp.join(show, '**', '*.*'), recursive=True)
             if not f.endswith('_loc.png')]
    assert not drawn, drawn[:3]
    pseudo = str(tmp_path / 'pseudo.json')
    run_tool([PY, 'tools/analysis_tools/export_pseudo_boxes.py', cfg, ckpt,
              '--out', pseudo, '--split', 'train', '--threshold', '0.3'])
    coco = json.load(open(pseudo))
    # the train split (24 images minus the held-out val share), one box each
    assert 0 < len(coco['images']) < 24
    assert len(coco['annotations']) == len(coco['images'])
    assert {a['category_id'] for a in coco['annotations']} <= {1, 2, 3, 4}

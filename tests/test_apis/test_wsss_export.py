"""WSSS pseudo masks: export in MMSegmentation's layout from a BAS
multi-label model, and mIoU with MMSegmentation's IoUMetric."""
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mmfg.apis.wsss import evaluate_pseudo_masks, export_pseudo_masks
from mmfg.datasets.voc import PascalVOC2012, read_label_png
from mmfg.registry import MODELS

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'test_datasets'))
from voc_fixture import write_voc  # noqa: E402


def _tiny_bas():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='BAS',
            backbone=dict(
                type='ResNet', depth=18, base_channels=8,
                strides=(1, 2, 1, 1)),
            tail_pool=2,
            head=dict(
                type='BASHead',
                num_classes=20,
                in_channels=64,
                gen_in_channels=32,
                num_convs=0,
                multi_label=True,
                detach_fg_features=True,
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True)),
            data_preprocessor=dict(
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                to_rgb=True)))
    model.init_weights()
    return model.eval()


def test_export_layout_and_labels(tmp_path):
    root = str(tmp_path / 'VOC2012')
    write_voc(root)
    ds = PascalVOC2012(root)
    out = str(tmp_path / 'pseudo')
    mask_dir = export_pseudo_masks(_tiny_bas(), ds, out, bg_threshold=0.5)
    assert mask_dir == osp.join(out, 'SegmentationClassPseudo')
    with open(osp.join(out, 'ImageSets/Segmentation/train.txt')) as f:
        assert f.read().split() == ds.ids
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        png = Image.open(osp.join(mask_dir, f'{info["img_id"]}.png'))
        assert png.mode == 'P' and png.size == (32, 24)
        values = set(np.unique(np.array(png)).tolist())
        # only background and the image's own classes
        assert values <= {0} | {c + 1 for c in info['gt_label']}
        assert values - {0}, 'the max-normalised map keeps its peak'


def _miou_reference(preds, gts, num_classes=21):
    inter = np.zeros(num_classes)
    union = np.zeros(num_classes)
    for p, g in zip(preds, gts):
        valid = g != 255
        for c in range(num_classes):
            inter[c] += np.sum((p == c) & (g == c) & valid)
            union[c] += np.sum(((p == c) | (g == c)) & valid)
    present = union > 0
    return 100 * np.mean(inter[present] / union[present])


@pytest.mark.integration
def test_miou_with_mmseg_iou_metric(tmp_path):
    pytest.importorskip(
        'mmseg.evaluation',
        reason='MMSegmentation not installed (requirements/seg.txt)')
    root = str(tmp_path / 'VOC2012')
    masks = write_voc(root)
    ds = PascalVOC2012(root, require_mask=True)
    perfect = str(tmp_path / 'perfect')
    shutil.copytree(osp.join(root, 'SegmentationClass'), perfect)
    assert evaluate_pseudo_masks(perfect, ds)['mIoU'] == pytest.approx(100)
    # a wrong prediction: everything background
    wrong = tmp_path / 'wrong'
    wrong.mkdir()
    preds = []
    for img_id, m in masks.items():
        p = np.zeros_like(m)
        p[:, :8] = m[:, :8]
        Image.fromarray(p, mode='L').save(wrong / f'{img_id}.png')
        preds.append(read_label_png(str(wrong / f'{img_id}.png')))
    res = evaluate_pseudo_masks(str(wrong), ds)
    expected = _miou_reference(preds, list(masks.values()))
    assert res['mIoU'] == pytest.approx(expected, abs=0.01)
    shutil.rmtree(perfect)
    with pytest.raises(FileNotFoundError, match='export_pseudo_masks'):
        evaluate_pseudo_masks(perfect, ds)

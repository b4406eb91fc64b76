"""WSOL pseudo boxes train an MMDetection detector (needs compiled mmcv).

Run with ``pytest -m integration``; skipped with the reason when MMDetection
or the compiled mmcv ops are missing (e.g. with mmcv-lite).
"""
import importlib
import os.path as osp

import pytest
import torch

pytestmark = pytest.mark.integration
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _require(module: str):
    try:
        return importlib.import_module(module)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f'{module} not importable ({type(e).__name__}: {e}); '
                    'install full mmcv and MMDetection (requirements/det.txt)')


def test_faster_rcnn_trains_one_iteration_on_pseudo_boxes(tmp_path):
    _require('mmcv.ops')
    _require('mmdet.models')
    from mmdet.utils import register_all_modules as register_mmdet
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmfg.apis import init_model
    from mmfg.apis.localization import export_pseudo_boxes
    from mmfg.registry import DATASETS

    # a random CAM localiser on a tiny SynthBirds -> COCO pseudo boxes
    root = str(tmp_path / 'sb')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/cam/cam_r18_synthbirds.py'))
    cfg.merge_from_dict(
        dict(model=dict(backbone=dict(base_channels=8),
                        head=dict(num_classes=3, in_channels=64)),
             test_dataloader=dict(dataset=dict(
                 data_root=root, with_mask=False,
                 gen_cfg=dict(num_classes=3, images_per_class=3,
                              image_size=48, seed=0, difficulty='easy'),
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='Resize', scale=(48, 48)),
                           dict(type='PackFGInputs')]))))
    torch.manual_seed(0)
    model = init_model(cfg)
    ds_cfg = dict(cfg.test_dataloader.dataset, split='train')
    ann = str(tmp_path / 'pseudo_train.json')
    coco = export_pseudo_boxes(model, DATASETS.build(ds_cfg), ann,
                               threshold=0.2, index_names=True)
    assert coco['annotations']

    # the documented detector config, one iteration on those boxes
    register_mmdet(init_default_scope=False)
    det = Config.fromfile(
        osp.join(ROOT, 'configs/cam/faster-rcnn_r50_synthbirds-pseudo.py'))
    det.merge_from_dict(
        dict(work_dir=str(tmp_path / 'det'),
             model=dict(roi_head=dict(bbox_head=dict(num_classes=3)),
                        backbone=dict(depth=18, init_cfg=None),
                        neck=dict(in_channels=[64, 128, 256, 512])),
             train_dataloader=dict(
                 batch_size=2, num_workers=0, persistent_workers=False,
                 dataset=dict(ann_file=ann, metainfo=dict(
                     classes=('class_0', 'class_1', 'class_2')))),
             train_cfg=dict(_delete_=True, type='IterBasedTrainLoop',
                            max_iters=1),
             param_scheduler=[],
             default_hooks=dict(checkpoint=dict(interval=100),
                                logger=dict(interval=1))))
    runner = Runner.from_cfg(det)
    runner.train()
    assert runner.iter == 1
    losses = runner.message_hub.get_scalar('train/loss').current()
    assert losses == losses and losses > 0  # finite, positive

"""The three ways of using mmfg in configs (see README)."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def cub_layout_root(tmp_path_factory):
    # SynthBirds is written in the exact CUB-200-2011 layout.
    from mmfg.datasets.synth import generate_synthbirds
    root = str(tmp_path_factory.mktemp('cub') / 'CUB_200_2011')
    generate_synthbirds(root, num_classes=3, images_per_class=6,
                        image_size=48, seed=1, progress=False)
    return root


def _runner(cfg, tmp_path):
    cfg.work_dir = str(tmp_path)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    return Runner.from_cfg(cfg)


def test_registry_nodes_are_children_of_mmpretrain():
    import mmpretrain.registry as mmpt

    import mmfg.registry as reg
    for name in reg.__all__:
        node = getattr(reg, name)
        assert node.scope == 'mmfg'
        assert node.parent is getattr(mmpt, name), name


def test_style1_mmfg_scope_resolves_mmfg_and_mmpretrain(cub_layout_root):
    import mmpretrain.models as mmpt_models

    from mmfg.datasets import CUB
    from mmfg.engine.hooks import NumClassesCheckHook
    from mmfg.registry import DATASETS, HOOKS, METRICS, MODELS
    from mmfg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmfg'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=3, in_channels=512)))
        assert isinstance(model, mmpt_models.ImageClassifier)
        ds = DATASETS.build(
            dict(type='CUB', data_root=cub_layout_root, split='test'))
        assert type(ds) is CUB and len(ds.metainfo['classes']) == 3
        assert type(METRICS.build(dict(type='Accuracy'))).__name__ == \
            'Accuracy'
        assert isinstance(
            HOOKS.build(dict(type='NumClassesCheckHook')),
            NumClassesCheckHook)


def test_style2_inherit_mmpretrain_config(cub_layout_root, tmp_path):
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/baseline/resnet50_cub_mmpretrain-base.py'))
    assert cfg.default_scope == 'mmfg'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = cub_layout_root
    runner = _runner(cfg, tmp_path)
    assert type(runner.model).__module__.startswith('mmpretrain')
    loader = runner.build_dataloader(cfg.val_dataloader)
    ds = loader.dataset
    assert type(ds).__module__.startswith('mmfg')
    assert ds.split == 'val' if hasattr(ds, 'split') else True
    # the inherited pipeline resolves mmfg's box-aware transforms
    assert all(
        type(t).__module__.startswith('mmfg') for t in ds.pipeline.transforms
        if type(t).__name__ in ('LoadImageFromFile', 'Resize', 'CenterCrop'))
    batch = next(iter(loader))
    assert batch['inputs'][0].shape[-2:] == (448, 448)


def test_style3_custom_imports_in_mmpretrain_config(cub_layout_root,
                                                    tmp_path):
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/baseline/resnet50_cub_custom-imports.py'))
    assert cfg.default_scope == 'mmpretrain'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = cub_layout_root
    runner = _runner(cfg, tmp_path)
    loader = runner.build_dataloader(cfg.train_dataloader)
    assert type(loader.dataset).__module__.startswith('mmfg')
    assert len(loader.dataset.metainfo['classes']) == 3

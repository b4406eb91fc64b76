"""localize(), the overlay renderer, the --show-dir hook and the pseudo-box
export, on a tiny generated SynthBirds and a randomly initialised CAM."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmfg.apis import init_model, localize
from mmfg.apis.localization import default_threshold, export_pseudo_boxes
from mmfg.explain.localization import (boxes_at_threshold, normalize_map,
                                       quantize_map)
from mmfg.registry import DATASETS, HOOKS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GEN = dict(num_classes=3, images_per_class=4, image_size=48, seed=0,
           difficulty='easy')


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synth') / 'sb')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/cam/cam_r18_synthbirds.py'))
    pipe = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(40, 40)),
        dict(type='PackFGInputs'),
    ]
    cfg.merge_from_dict(
        dict(model=dict(backbone=dict(base_channels=8),
                        head=dict(num_classes=3, in_channels=64)),
             test_evaluator=[dict(type='LocalizationMetric', threshold=0.3)],
             test_dataloader=dict(dataset=dict(
                 data_root=root, gen_cfg=GEN, with_mask=False,
                 pipeline=pipe))))
    torch.manual_seed(0)
    return init_model(cfg)


def _dataset(model, split='train'):
    ds_cfg = dict(model.cfg.test_dataloader.dataset)
    ds_cfg['split'] = split
    return DATASETS.build(ds_cfg)


def test_localize_box_follows_the_protocol(model, tmp_path):
    ds = _dataset(model, 'test')
    path = ds.get_data_info(0)['img_path']
    out = localize(model, path, out_dir=str(tmp_path))
    assert out['threshold'] == pytest.approx(0.3)  # from the config
    assert out['loc_map'].shape == (40, 40)
    ref = boxes_at_threshold(quantize_map(out['loc_map']), 0.3)
    np.testing.assert_array_equal(out['boxes'], ref)
    # 48 px image resized to 40: original = (box + [0, 0, 1, 1]) * 1.2
    np.testing.assert_allclose(
        out['boxes_original'], (ref + [0, 0, 1, 1]) * 48 / 40, rtol=1e-6)
    stem = osp.splitext(osp.basename(path))[0]
    assert osp.getsize(tmp_path / f'{stem}_loc.png') > 0
    saved = json.loads((tmp_path / f'{stem}_loc.json').read_text())
    assert saved['boxes'] == ref.tolist()
    assert default_threshold(model.cfg, 0.7) == pytest.approx(0.3)


def test_localize_ignores_mask_loading_of_the_test_pipeline(
        model, tmp_path, monkeypatch):
    # The shipped CAM / BAS SynthBirds test pipelines load the GT mask (for
    # PxAP); one image given to localize() has no mask: LoadMask is skipped
    # and the result equals that of the mask-free pipeline.
    ds = _dataset(model, 'test')
    path = ds.get_data_info(0)['img_path']
    ref = localize(model, path)
    cfg = copy.deepcopy(model.cfg)
    pipe = list(cfg.test_dataloader.dataset.pipeline)
    pipe.insert(1, dict(type='LoadMask', binarize_threshold=127))
    cfg.test_dataloader.dataset.pipeline = pipe
    monkeypatch.setattr(model, 'cfg', cfg)
    out = localize(model, path)
    np.testing.assert_array_equal(out['boxes'], ref['boxes'])
    np.testing.assert_allclose(out['loc_map'], ref['loc_map'])


def test_show_dir_hook_writes_overlays(model, tmp_path):
    from mmengine.dataset import pseudo_collate
    ds = _dataset(model, 'test')
    hook = HOOKS.build(dict(type='LocalizationVisualizationHook',
                            out_dir=str(tmp_path), interval=2,
                            threshold=0.5))
    data = pseudo_collate([ds[i] for i in range(4)])
    with torch.no_grad():
        outs = model.test_step(data)
    hook.after_test_iter(None, 0, data, outs)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) == 2  # every 2nd image
    # a plain classifier output (no loc_map) is skipped
    del outs[0].loc_map
    hook.after_test_iter(None, 1, data, outs[:1])
    assert len(list(tmp_path.iterdir())) == 2


def test_export_pseudo_boxes_coco(model, tmp_path):
    ds = _dataset(model, 'train')
    out_file = str(tmp_path / 'pseudo.json')
    coco = export_pseudo_boxes(model, ds, out_file, threshold=0.2,
                               batch_size=5, index_names=True)
    assert json.loads(open(out_file).read()) == coco
    assert len(coco['images']) == len(ds)
    assert [c['name'] for c in coco['categories']] == [
        'class_0', 'class_1', 'class_2']
    # every image's box equals the protocol box of its map, mapped back
    first = ds[0]
    with torch.no_grad():
        s = model.test_step(
            dict(inputs=[first['inputs']],
                 data_samples=[first['data_samples']]))[0]
    box = boxes_at_threshold(quantize_map(normalize_map(s.loc_map, (40, 40))),
                             0.2)[0]
    x0, y0, x1, y1 = (box + [0, 0, 1, 1]) * 1.2
    ann = [a for a in coco['annotations'] if a['image_id'] == 1][0]
    np.testing.assert_allclose(ann['bbox'], [x0, y0, x1 - x0, y1 - y0],
                               rtol=1e-6)
    assert ann['category_id'] == int(first['data_samples'].gt_label) + 1
    assert coco['images'][0]['file_name'] == ds.get_data_info(0)['img_path']

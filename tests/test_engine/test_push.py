"""Prototype push: exact projection onto own-class patches, records, gallery,
pruning."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from push_helpers import (IMG, TinyProtoDataset, all_latents, build_tiny_model,
                          tiny_loader)

from mmfg.engine.hooks.prune_hook import find_nearest_images, prune_prototypes
from mmfg.engine.hooks.push_hook import push_prototypes
from mmfg.models.utils.distances import squared_l2_map
from mmfg.visualization.prototypes import save_prototype_gallery


def _brute_force_nearest(latents, labels, protos, cls, metric):
    """Slow reference: loop over prototypes, images and positions."""
    best = []
    for p in range(protos.shape[0]):
        cand = None
        for i, z in enumerate(latents):
            if labels[i] != cls[p]:
                continue
            D, h, w = z.shape
            for r in range(h):
                for c in range(w):
                    v = z[:, r, c]
                    if metric == 'squared_l2':
                        d = float(((v - protos[p])**2).sum())
                    else:
                        d = -float(F.cosine_similarity(v, protos[p], dim=0))
                    if cand is None or d < cand[0] - 1e-6:
                        cand = (d, i, r, c)
        best.append(cand)
    return best


@pytest.mark.parametrize('head', ['ProtoPNetHead', 'STProtoPNetHead'])
def test_push_projects_onto_own_class_latent_patches(head):
    ds = TinyProtoDataset(num_classes=3, per_class=4)
    model = build_tiny_model(head)
    layers = model.head.prototype_layers()
    old = {n: l.prototypes.detach().clone() for n, l in layers.items()}
    out = push_prototypes(model, tiny_loader(ds, 5), epoch=7)
    labels = [ds[i]['data_samples'].gt_label.item() for i in range(len(ds))]
    for name, layer in layers.items():
        latents = all_latents(model, ds, name)
        recs = out['records']['branches'][name]
        cls = layer.prototype_class.tolist()
        ref = _brute_force_nearest(latents, labels, old[name], cls,
                                   layer.metric)
        for p, rec in enumerate(recs):
            i, (r, c) = rec['img_idx'], rec['latent_pos']
            assert rec['pushed'] and labels[i] == cls[p] == rec['class']
            # the same patch as the exhaustive search
            assert (i, r, c) == ref[p][1:], (p, rec, ref[p])
            patch = latents[i][:, r, c]
            if layer.metric == 'cosine':
                patch = F.normalize(patch, dim=0)
            torch.testing.assert_close(layer.prototypes[p], patch,
                                       atol=1e-6, rtol=0)
            # the prototype is now exactly on the patch: distance 0 there
            z_n = latents[i][None]
            if layer.metric == 'cosine':  # unit prototypes vs unit patches
                z_n = F.normalize(z_n, dim=1)
            with torch.no_grad():
                d = squared_l2_map(z_n, layer.prototypes)
            assert float(d[0, p, r, c]) < 1e-5
            assert rec['img_path'] == f'tiny_{i}.png'
            x1, y1, x2, y2 = rec['rf_box']
            assert 0 <= x1 < x2 <= IMG and 0 <= y1 < y2 <= IMG
            # the 8x8 latent grid maps 4 px per cell: the rf box covers it
            assert x1 <= 4 * c and x2 >= 4 * (c + 1)
            assert y1 <= 4 * r and y2 >= 4 * (r + 1)
            hx1, hy1, hx2, hy2 = rec['hact_box']
            lx, ly = rec['location']
            assert hx1 <= lx < hx2 and hy1 <= ly < hy2
            # identity trans_mat: original-space boxes equal input boxes
            np.testing.assert_allclose(rec['rf_box_ori'], rec['rf_box'])
    assert model.head.push_records['epoch'] == 7
    assert model.head.push_records['input_hw'] == [IMG, IMG]
    # records travel through the state dict (safe, plain python)
    sd = model.head.state_dict()
    fresh = build_tiny_model(head, seed=1).head
    fresh.load_state_dict(sd)
    assert fresh.push_records == model.head.push_records


def test_push_is_batch_order_independent_and_skips_pruned():
    ds = TinyProtoDataset(num_classes=3, per_class=4)
    m1 = build_tiny_model()
    m2 = build_tiny_model()
    m1.head.layer.prune_(torch.tensor([True] + [False] * 5))
    m2.head.layer.prune_(torch.tensor([True] + [False] * 5))
    before = m1.head.layer.prototypes[0].clone()
    r1 = push_prototypes(m1, tiny_loader(ds, 5))['records']
    rev = torch.utils.data.Subset(ds, list(range(len(ds)))[::-1])
    r2 = push_prototypes(m2, tiny_loader(rev, 3))['records']
    torch.testing.assert_close(m1.head.layer.prototypes,
                               m2.head.layer.prototypes, atol=1e-6,
                               rtol=1e-6)
    for a, b in zip(r1['branches'][''], r2['branches']['']):
        assert (a['img_idx'], a['latent_pos']) == \
            (b['img_idx'], b['latent_pos'])
    assert not r1['branches'][''][0]['pushed']
    assert torch.equal(m1.head.layer.prototypes[0], before)


def test_gallery_png_and_json(tmp_path):
    ds = TinyProtoDataset(num_classes=3, per_class=3)
    model = build_tiny_model()
    out = push_prototypes(model, tiny_loader(ds, 4), epoch=1)

    def get_image(i):
        return ds[i]['inputs'].permute(1, 2, 0).numpy()[..., ::-1].copy()

    files = save_prototype_gallery(
        out['records'], get_image, str(tmp_path),
        act_maps={k: v.numpy() for k, v in out['act'].items()},
        class_names=ds.metainfo['classes'])
    assert osp.basename(files[0]) == 'prototypes.json'
    assert sorted(osp.basename(f) for f in files[1:]) == [
        'class_000.png', 'class_001.png', 'class_002.png']
    with open(files[0]) as f:
        js = json.load(f)
    assert js['class_names'] == ['c0', 'c1', 'c2']
    assert len(js['branches']['']) == 6
    import cv2
    img = cv2.imread(files[1])
    assert img is not None and img.shape[0] > 2 * IMG  # two rows


def test_prune_uses_k_nearest_images():
    ds = TinyProtoDataset(num_classes=3, per_class=4)
    model = build_tiny_model()
    latents = all_latents(model, ds)
    labels = torch.tensor(
        [ds[i]['data_samples'].gt_label.item() for i in range(len(ds))])
    nearest = find_nearest_images(model, tiny_loader(ds, 5), k=6)['']
    layer = model.head.layer
    # slow reference of the per-image min distance
    with torch.no_grad():
        d = torch.stack([
            squared_l2_map(z[None], layer.prototypes)[0].flatten(1).min(
                1).values for z in latents
        ], 1)  # (P, N)
    for p in range(layer.num_prototypes):
        order = sorted(range(len(ds)), key=lambda i: (float(d[p, i]), i))[:6]
        assert nearest['img_idx'][p].tolist() == order
        assert nearest['label'][p].tolist() == labels[order].tolist()
    own = (labels[nearest['img_idx']] == layer.prototype_class[:, None]).sum(1)
    report = prune_prototypes(model, tiny_loader(ds, 5), k=6, threshold=3)
    expect = torch.nonzero(own < 3).flatten().tolist()
    assert report['']['pruned'] == expect
    assert layer.prototype_valid.tolist() == [
        p not in expect for p in range(layer.num_prototypes)]
    assert (layer.last_layer.weight[:, expect] == 0).all()
    # pruned prototypes no longer contribute
    x = model.extract_feat(torch.randn(2, 3, IMG, IMG))
    assert (layer(x)['sim'][:, expect] == 0).all()


def test_default_push_set_is_the_train_split_through_the_test_pipeline():
    from mmengine.config import Config

    from mmfg.engine.hooks.push_hook import push_dataloader_cfg
    cfg = Config(dict(
        train_dataloader=dict(
            batch_size=32, num_workers=2,
            dataset=dict(type='CUB', data_root='d', split='train',
                         pipeline=[dict(type='RandomFlip')]),
            sampler=dict(type='DefaultSampler', shuffle=True)),
        test_dataloader=dict(
            batch_size=64,
            dataset=dict(type='CUB', data_root='d', split='test',
                         pipeline=[dict(type='Resize', scale=8)]))))
    loader = push_dataloader_cfg(cfg)
    assert loader['dataset'] == dict(type='CUB', data_root='d',
                                     split='train',
                                     pipeline=[dict(type='Resize', scale=8)])
    assert loader['sampler'] == dict(type='DefaultSampler', shuffle=False)
    assert loader['batch_size'] == 64 and loader['num_workers'] == 2
    # the runner config is not modified
    assert cfg.train_dataloader.dataset.pipeline == [dict(type='RandomFlip')]
    with pytest.raises(Exception, match='push set'):
        push_dataloader_cfg(
            Config(dict(train_dataloader=cfg.train_dataloader)))

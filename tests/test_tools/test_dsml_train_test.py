"""End-to-end metric learning: tools/train.py + tools/test.py on a tiny
class-disjoint SynthBirds with the SNR triplet config, then
mmfg.apis.retrieve on the trained checkpoint."""
import glob
import json
import os.path as osp
import sys

import pytest
import torch

pytestmark = pytest.mark.slow
PY = sys.executable

# class_split: 2 of the tiny set's 4 classes train, 2 test
EXTRA = '''
model = dict(head=dict(embed_dim=16))
data_preprocessor = dict(num_classes=2)
train_dataloader['sampler'] = dict(
    type='MPerClassSampler', m=4, batch_size=8)
val_evaluator = dict(metric_names=('recall', 'map_at_r'))
test_evaluator = val_evaluator
'''


def test_dsml_train_test_retrieve(tiny_config_factory, tmp_path, run_tool):
    cfg = tiny_config_factory('dsml/snr-triplet_r18_synthbirds.py', EXTRA)
    work = str(tmp_path / 'work')
    run_tool([PY, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'epoch_2.pth')
    out = str(tmp_path / 'metrics.json')
    run_tool([PY, 'tools/test.py', cfg, ckpt, '--work-dir', work, '--out',
              out])
    metrics = json.load(open(out))
    # 2 test classes of 12 images, every query answerable
    assert metrics['retrieval/num_queries'] == 24
    for k in (1, 2, 4, 8):
        assert 0 <= metrics[f'retrieval/Recall@{k}'] <= 100
    assert metrics['retrieval/Recall@1'] <= metrics['retrieval/Recall@8']

    from mmfg.apis import embed_images, init_model, retrieve
    model = init_model(cfg, ckpt)
    root = model.cfg.test_dataloader.dataset.data_root
    images = sorted(glob.glob(osp.join(root, 'images', '*', '*.*')))[:6]
    hits = retrieve(model, images[3], images, topk=3)
    # the query is in the gallery: itself first, at distance ~0 (SNR,
    # the distance of the model's loss)
    assert hits[0]['index'] == 3 and hits[0]['image'] == images[3]
    assert hits[0]['distance'] == pytest.approx(0, abs=1e-4)
    emb = embed_images(model, images)
    from mmfg.models.utils import snr_distance
    d = snr_distance(emb[3:4], emb)[0]
    assert [h['index'] for h in hits] == d.argsort()[:3].tolist()
    torch.testing.assert_close(torch.tensor([h['distance'] for h in hits]),
                               d.sort().values[:3], atol=1e-4, rtol=1e-4)

"""Concept explanations: agreement, maps, rendering, apis.explain."""
import json
import math

import cv2
import numpy as np
import torch

from mmfg.explain.concepts import (concept_agreement, concept_explanations,
                                   spatial_concept_maps)
from mmfg.visualization import render_explanation


def test_concept_agreement_hand_computed():
    scores = torch.tensor([[.9, .1, .5, .2], [.1, .2, .3, .4],
                           [.3, .3, .2, .1]])
    present = torch.tensor([[1., 0., 1., 0.], [1., 0., 0., 0.],
                            [0., 0., 0., 0.]])
    prec = concept_agreement(scores, present)
    assert prec[0] == 1.  # top-2 = {0, 2}
    assert prec[1] == 0.  # top-1 = 3, present = 0
    assert math.isnan(prec[2])  # nothing present


def test_spatial_maps_layout():
    attn = torch.zeros(1, 6, 2)  # grid 2 x 3
    attn[0, 4, 1] = 1.  # row 1, col 1
    maps = spatial_concept_maps(attn, (2, 3))
    assert maps.shape == (1, 2, 2, 3) and maps[0, 1, 1, 1] == 1
    assert maps.sum() == 1
    up = spatial_concept_maps(attn, (2, 3), (20, 30))
    assert up.shape == (1, 2, 20, 30)
    peak = np.unravel_index(up[0, 1].argmax().item(), (20, 30))
    assert 10 <= peak[0] < 20 and 10 <= peak[1] < 20


def test_explanations_render_to_png(tmp_path):
    logits = torch.tensor([[0., 2., 1.]])
    g = torch.tensor([[.1, .7, .2]])
    s = torch.softmax(torch.randn(1, 4, 3), -1)
    expl = concept_explanations(logits, g, s, (2, 2), (16, 16), ['a', 'b',
                                                                 'c'],
                                ['x', 'y', 'z'], topk_classes=2,
                                topk_concepts=2, classes=['c0', 'c1', 'c2'])
    e = expl[0]
    assert e['pred_label'] == 1 and e['classes'][0]['name'] == 'c1'
    assert [c['name'] for c in e['global_concepts']] == ['b', 'c', 'a']
    assert np.isclose(e['spatial_concepts'][0]['score'],
                      s[0].mean(0).max().item())
    img = np.full((16, 16, 3), 128, np.uint8)
    out = render_explanation(e, img, str(tmp_path / 'x.png'))
    pic = cv2.imread(out)
    assert pic is not None and pic.shape[1] > 3 * 16
    from mmfg.apis import to_jsonable
    js = json.loads(json.dumps(to_jsonable(e)))
    assert 'heatmap' not in js['spatial_concepts'][0]

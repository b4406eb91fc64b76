"""ProtoTree explanations: decision paths, local explanation dicts and
their rendering, the global tree render (SVG / HTML / dot / JSON)."""
import json
import os
import stat
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample
from PIL import Image

import mmfg.models  # noqa: F401
from mmfg.apis import to_jsonable
from mmfg.explain.prototree import decision_paths, tree_description
from mmfg.registry import MODELS
from mmfg.visualization import (EXPLANATION_RENDERERS, render_explanation,
                                render_tree)

torch.set_num_threads(1)


def _head(depth=3, num_trees=1, C=5):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(type='ProtoTreeHead', num_classes=C, in_channels=6,
             depth=depth, proto_channels=4, num_trees=num_trees,
             patch_size=8))
    head.leaf_params.uniform_(0, 4)
    return head


def test_decision_paths_of_a_full_tree():
    head = _head(depth=2)  # nodes: 0 root, 1 left, 2 right; leaves 0..3
    paths = decision_paths(head.path_index, torch.tensor([0, 1, 2, 3]), 3)
    assert paths['node'].tolist() == [[0, 1], [0, 1], [0, 2], [0, 2]]
    assert paths['right'].tolist() == [[False, False], [False, True],
                                       [True, False], [True, True]]
    assert bool(paths['valid'].all())


@pytest.mark.parametrize('num_trees', [1, 2])
def test_local_explanation_follows_greedy_path(num_trees):
    head = _head(num_trees=num_trees)
    x = torch.randn(3, 6, 4, 4)
    with torch.no_grad():
        z = head.latent((x, ))
        # some prototypes on a real patch, others far: both directions
        head.prototypes.data[::2] = z[0, 0, :, 0, 0]
        head.prototypes.data[1::2] += 1.0
        head.prototypes.data[4] += 1.0  # root's right child (pre-order)
        out = head.route((x, ), with_maps=True)
        dec = head.decide(out)
    samples = [
        DataSample(metainfo=dict(img_shape=(64, 48))).set_gt_label(1)
        for _ in range(3)
    ]
    expls = head.explain((x, ), samples, topk=3,
                         classes=['a', 'b', 'c', 'd', 'e'])
    assert len(expls) == 3
    p_right = torch.exp(-out['min_dist'])
    directions = set()
    for b, e in enumerate(expls):
        assert e['type'] == 'prototree' and e['gt_label'] == 1
        assert e['greedy_label'] == int(dec['greedy'][b].argmax())
        assert len(e['trees']) == num_trees
        for t, tree in enumerate(e['trees']):
            leaf = tree['leaf']['index']
            assert leaf == int(dec['greedy_leaf'][b, t])
            assert len(tree['path']) == int(head.leaf_depth[leaf])
            assert [s['depth'] for s in tree['path']] == list(
                range(len(tree['path'])))
            for s in tree['path']:
                n = s['node']
                assert s['similarity'] == pytest.approx(
                    float(p_right[b, n]), rel=1e-5)
                assert (s['direction'] == 'right') == bool(p_right[b, n] > .5)
                directions.add(s['direction'])
                x1, y1, x2, y2 = s['box']
                assert 0 <= x1 < x2 <= 48 and 0 <= y1 < y2 <= 64
                assert s['similarity_map'].shape == (4, 4)
                h, w = s['latent_hw']
                assert s['similarity_map'][h, w] == pytest.approx(
                    s['similarity'], rel=1e-5)
                assert s['prototype_patch'] is None  # not projected yet
            assert tree['leaf']['topk'][0]['name'] in 'abcde'
        json.dumps(to_jsonable(e))  # JSON-serialisable
    assert directions == {'left', 'right'}


def test_explanation_render(tmp_path):
    head = _head()
    head.proto_source[:, 0] = 3  # pretend projected, with thumbnails
    head.proto_patches[:] = torch.randint(0, 255, head.proto_patches.shape,
                                          dtype=torch.uint8)
    x = torch.randn(1, 6, 4, 4)
    expl = head.explain((x, ), [DataSample(metainfo=dict(img_shape=(64,
                                                                    64)))])[0]
    assert expl['trees'][0]['path'][0]['prototype_patch'].shape == (8, 8, 3)
    assert 'prototree' in EXPLANATION_RENDERERS
    img = np.random.randint(0, 255, (64, 64, 3), dtype=np.uint8)
    out = render_explanation(expl, img, str(tmp_path / 'e.png'))
    im = np.asarray(Image.open(out))
    assert im.shape[0] > 200 and im.shape[1] > 400
    assert im.std() > 10  # something was drawn


def test_explanation_header_fits_long_class_names(tmp_path):
    # CUB / SynthBirds names are long: the header line (prediction and
    # greedy-path class) used to run off the right edge of the picture.
    head = _head()
    names = [f'{i:03d}.Yellow_crested_Bar_winged_Band_tailed_Sicklebill'
             for i in range(5)]
    x = torch.randn(1, 6, 4, 4)
    expl = head.explain(
        (x, ), [DataSample(metainfo=dict(img_shape=(64, 64)))],
        classes=names)[0]
    img = np.full((64, 64, 3), 128, dtype=np.uint8)
    im = np.asarray(
        Image.open(render_explanation(expl, img, str(tmp_path / 'e.png'))))
    header = im[8:30].min(axis=2) < 128  # dark text pixels of line 1
    cols = np.nonzero(header.any(axis=0))[0]
    assert cols.size and cols.max() < im.shape[1] - 5  # ends inside
    # the text is as wide as two long names plus the rest of the line
    assert cols.max() - cols.min() > 2 * 7 * len(names[0])


def test_tree_render_files(tmp_path):
    head = _head(depth=3)
    head.proto_source[:4, 0] = 0
    head.proto_patches[:4] = 200
    files = render_tree(head, str(tmp_path / 'vis'), classes=list('abcde'),
                        run_dot=False)
    assert set(files) == {'svg', 'html', 'dot', 'json'}
    root = ET.parse(files['svg']).getroot()
    images = [e for e in root.iter() if e.tag.endswith('image')]
    assert len(images) == 4
    titles = [e.text for e in root.iter() if e.tag.endswith('title')]
    assert sum(t.startswith('leaf') for t in titles) == head.num_leaves
    assert sum(t.startswith('node') for t in titles) == head.num_prototypes
    html = open(files['html']).read()
    assert '<svg' in html and '7 prototypes, 8 leaves' in html
    dot = open(files['dot']).read()
    assert dot.count('->') == 2 * head.num_prototypes
    assert len(os.listdir(tmp_path / 'vis' / 'nodes')) == 4
    desc = json.load(open(files['json']))
    assert len(desc['nodes']) == 7 and len(desc['leaves']) == 8


def test_tree_render_calls_graphviz_when_available(tmp_path, monkeypatch):
    """A stand-in `dot` on PATH receives the .dot file and writes outputs."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    fake = bindir / 'dot'
    fake.write_text('#!/bin/sh\n# args: -Tfmt in.dot -o out\n'
                    'grep -q digraph "$2" && echo "$1" > "$4"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', f'{bindir}{os.pathsep}' + os.environ['PATH'])
    files = render_tree(_head(depth=2), str(tmp_path / 'vis'))
    assert open(files['dot_svg']).read().strip() == '-Tsvg'
    assert open(files['dot_png']).read().strip() == '-Tpng'


def test_pruned_forest_description_and_layout(tmp_path):
    head = _head(depth=3, num_trees=2, C=150)
    head.leaf_params.zero_()
    head.leaf_params[[0, 5, 9, 14], 3] = 8.0
    head.prune()
    desc = tree_description(head)
    assert len(desc['roots']) == 2
    # every node's children exist and each leaf is reached exactly once
    seen = []

    def walk(code):
        if code[0] == 'leaf':
            seen.append(code[1])
            return
        n = desc['nodes'][code[1]]
        walk(n['left'])
        walk(n['right'])

    for r in desc['roots']:
        walk(r)
    assert sorted(seen) == list(range(head.num_leaves))
    from mmfg.visualization.tree import tree_layout
    pos = tree_layout(desc)
    assert len(pos) == head.num_prototypes + head.num_leaves
    files = render_tree(head, str(tmp_path), run_dot=False)
    ET.parse(files['svg'])


def test_tree_labels_keep_both_ends_of_long_names():
    from mmfg.visualization.tree import _short
    a = dict(name='Yellow_crested_Bar_winged_Band_tailed_Sicklebill')
    b = dict(name='Yellow_crested_Plain_winged_Plain_tailed_Hookbill')
    la, lb = _short(dict(a, **{'class': 6}), 20), _short(
        dict(b, **{'class': 7}), 20)
    assert la == '6:Yellow_c~icklebill' and lb == '7:Yellow_c~_Hookbill'
    assert _short({'name': 'Laysan_Albatross', 'class': 6}, 20) == \
        '6:Laysan_Albatross'
    assert len(_short(dict(a, **{'class': 106}), 16)) == 16
    assert _short({'name': '3', 'class': 3}) == '3'

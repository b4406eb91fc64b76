"""SynthBirds generator: layout, determinism, geometry and fine-grainedness."""
import importlib.util
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from mmfg.datasets.synth import (ATTRIBUTE_BY_NAME, CERTAINTY_NAMES,
                                 DIFFICULTIES, PART_ATTRIBUTES,
                                 PART_FLIP_PAIRS, PART_NAMES,
                                 attribute_vocabulary, attributes_from_code,
                                 class_codes, class_definitions,
                                 generate_synthbirds, mirror_scene,
                                 read_synthbirds_config, render_bird,
                                 sample_scene)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CUB_PARTS = [
    'back', 'beak', 'belly', 'breast', 'crown', 'forehead', 'left eye',
    'left leg', 'left wing', 'nape', 'right eye', 'right leg', 'right wing',
    'tail', 'throat'
]
P = {name: i for i, name in enumerate(CUB_PARTS)}

EASY = dict(
    num_classes=4,
    images_per_class=6,
    image_size=64,
    seed=0,
    difficulty='easy',
    progress=False)
HARD = dict(
    num_classes=6,
    images_per_class=8,
    image_size=96,
    seed=3,
    difficulty='hard',
    train_fraction=0.25,
    progress=False)


@pytest.fixture(scope='module')
def easy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synth') / 'easy')
    assert generate_synthbirds(root, **EASY) == root
    return root


@pytest.fixture(scope='module')
def hard_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synth') / 'hard')
    generate_synthbirds(root, **HARD)
    return root


@pytest.fixture(params=['easy', 'hard'])
def dataset(request, easy_root, hard_root):
    if request.param == 'easy':
        return easy_root, EASY
    return hard_root, HARD


def _table(root, *path):
    with open(osp.join(root, *path), encoding='utf-8') as f:
        text = f.read()
    assert text.endswith('\n') and '\r' not in text
    return [line.split() for line in text.splitlines()]


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def _load(root):
    """Parse the CUB files into per-image arrays."""
    images = _table(root, 'images.txt')
    labels = _table(root, 'image_class_labels.txt')
    split = _table(root, 'train_test_split.txt')
    boxes = _table(root, 'bounding_boxes.txt')
    locs = _table(root, 'parts', 'part_locs.txt')
    n = len(images)
    parts = np.zeros((n, 15, 3), np.float64)
    for img, part, x, y, vis in locs:
        parts[int(img) - 1, int(part) - 1] = (float(x), float(y), int(vis))
    return dict(
        ids=[int(r[0]) for r in images],
        paths=[r[1] for r in images],
        labels=np.array([int(r[1]) for r in labels]),
        train=np.array([int(r[1]) for r in split]),
        boxes=np.array([[float(v) for v in r[1:]] for r in boxes]),
        parts=parts,
        n_loc_rows=len(locs))


# ----------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------
def test_same_arguments_give_identical_bytes(tmp_path, easy_root):
    again = str(tmp_path / 'again')
    generate_synthbirds(again, **EASY)
    first, second = _files(easy_root), _files(again)
    assert sorted(first) == sorted(second)
    assert len(first) > 2 * 24  # images + masks + annotation files
    for name in first:
        assert first[name] == second[name], name


def test_different_seed_gives_different_images(tmp_path, easy_root):
    other = str(tmp_path / 'other')
    generate_synthbirds(other, **{**EASY, 'seed': 1})
    a, b = _files(easy_root), _files(other)
    jpgs = [k for k in a if k.endswith('.jpg')]
    assert sorted(jpgs) == sorted(k for k in b if k.endswith('.jpg'))
    assert all(a[k] != b[k] for k in jpgs)
    # Class definitions do not depend on the seed.
    assert a['classes.txt'] == b['classes.txt']
    assert json.loads(b['synthbirds.json'])['gen_cfg']['seed'] == 1


def test_files_match_documented_seeding(easy_root):
    """Image ``id`` is rendered from ``default_rng([seed, id])``."""
    data = _load(easy_root)
    defs = class_definitions(EASY['num_classes'], 'easy')
    for k in (0, 7, 23):
        img_id = data['ids'][k]
        scene = sample_scene(
            np.random.default_rng([EASY['seed'], img_id]), EASY['image_size'],
            'easy')
        out = render_bird(defs[data['labels'][k] - 1], scene)
        rel = data['paths'][k]
        mask = cv2.imread(
            osp.join(easy_root, 'segmentations', rel[:-4] + '.png'),
            cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(mask, out.mask)
        img = cv2.imread(osp.join(easy_root, 'images', rel))
        err = np.abs(img.astype(np.int16) - out.image).mean()
        assert err < 3.0  # JPEG quality 95
        np.testing.assert_allclose(data['parts'][k], out.parts, atol=0.006)


# ----------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------
def test_layout_counts_and_ids(dataset):
    root, cfg = dataset
    n_cls, per = cfg['num_classes'], cfg['images_per_class']
    n = n_cls * per
    data = _load(root)
    assert data['ids'] == list(range(1, n + 1))
    classes = _table(root, 'classes.txt')
    assert [int(r[0]) for r in classes] == list(range(1, n_cls + 1))
    names = [r[1] for r in classes]
    assert len(set(names)) == n_cls
    for c, name in enumerate(names):
        assert re.fullmatch(rf'{c + 1:03d}\.[A-Z][A-Za-z_]+', name)
    # Labels: 1-based, class-major, images_per_class each.
    np.testing.assert_array_equal(data['labels'],
                                  np.repeat(np.arange(1, n_cls + 1), per))
    for k, rel in enumerate(data['paths']):
        cls = names[data['labels'][k] - 1]
        assert rel == f'{cls}/{cls.split(".", 1)[1]}_{k + 1:04d}.jpg'
        assert osp.isfile(osp.join(root, 'images', rel))
    img = cv2.imread(osp.join(root, 'images', data['paths'][0]))
    assert img.shape == (cfg['image_size'], cfg['image_size'], 3)
    # Stratified split.
    frac = cfg.get('train_fraction', 0.5)
    per_class_train = data['train'].reshape(n_cls, per).sum(1)
    assert set(np.unique(data['train'])) <= {0, 1}
    assert (per_class_train == round(frac * per)).all()
    # Parts: the 15 CUB names exactly, one row per (image, part).
    assert _table(root, 'parts',
                  'parts.txt') == [[str(i + 1)] + name.split()
                                   for i, name in enumerate(CUB_PARTS)]
    assert list(PART_NAMES) == CUB_PARTS
    assert data['n_loc_rows'] == 15 * n
    locs = _table(root, 'parts', 'part_locs.txt')
    assert [(int(r[0]), int(r[1])) for r in locs] == \
        [(i, p) for i in range(1, n + 1) for p in range(1, 16)]
    for row in locs:
        if row[4] == '0':
            assert row[2:] == ['0.0', '0.0', '0']
    # Masks, README and the config record.
    seg = sorted(
        osp.relpath(osp.join(d, f), osp.join(root, 'segmentations'))
        for d, _, fs in os.walk(osp.join(root, 'segmentations')) for f in fs)
    assert seg == sorted(p[:-4] + '.png' for p in data['paths'])
    meta = read_synthbirds_config(root)
    gen_cfg = {k: v for k, v in cfg.items() if k != 'progress'}
    assert meta['gen_cfg'] == {
        'train_fraction': 0.5,
        'with_masks': True,
        **gen_cfg
    }
    assert meta['classes'] == names and meta['num_images'] == n
    readme = open(osp.join(root, 'README.txt'), encoding='utf-8').read()
    assert meta['generator_version'] in readme and names[0] in readme


def test_attribute_files(dataset):
    root, cfg = dataset
    n_cls, per = cfg['num_classes'], cfg['images_per_class']
    vocab = attribute_vocabulary()
    attrs = _table(root, 'attributes', 'attributes.txt')
    assert [int(r[0]) for r in attrs] == list(range(1, len(vocab) + 1))
    for row, (_, _, cub) in zip(attrs, vocab):
        assert re.fullmatch(r'has_[a-z_]+::[a-z_]+', row[1]) and \
            row[1] == cub
    assert _table(root, 'attributes', 'certainties.txt') == [
        [str(i + 1)] + name.split() for i, name in enumerate(CERTAINTY_NAMES)
    ]
    rows = _table(root, 'attributes', 'image_attribute_labels.txt')
    assert len(rows) == n_cls * per * len(vocab)
    present = np.zeros((n_cls * per, len(vocab)), np.int64)
    for k, (img, att, pres, cert, tm) in enumerate(rows):
        assert (int(img), int(att)) == (k // len(vocab) + 1,
                                        k % len(vocab) + 1)
        assert pres in ('0', '1') and cert in ('1', '4') and float(tm) > 0
        present[int(img) - 1, int(att) - 1] = int(pres)
    # Exactly one value per attribute group, matching the class definition.
    groups = [name for name, _, _ in vocab]
    defs = class_definitions(n_cls, cfg['difficulty'])
    for k in range(n_cls * per):
        d = defs[k // per]
        for name in ATTRIBUTE_BY_NAME:
            cols = [j for j, g in enumerate(groups) if g == name]
            values = ATTRIBUTE_BY_NAME[name].values
            assert present[k, cols].sum() == 1
            assert values[int(np.argmax(present[k, cols]))] == d[name]
    table = np.array(
        _table(root, 'attributes', 'class_attribute_labels_continuous.txt'),
        dtype=np.float64)
    assert table.shape == (n_cls, len(vocab))
    np.testing.assert_allclose(
        table, 100.0 * present.reshape(n_cls, per, -1).mean(1), atol=1e-6)


# ----------------------------------------------------------------------------
# Geometry: boxes, parts, masks, left/right
# ----------------------------------------------------------------------------
def test_boxes_parts_and_masks_agree(dataset):
    root, cfg = dataset
    size = cfg['image_size']
    data = _load(root)
    for k, rel in enumerate(data['paths']):
        x, y, w, h = data['boxes'][k]
        assert 0 <= x and 0 <= y and w > 0 and h > 0
        assert x + w <= size and y + h <= size
        mask = cv2.imread(
            osp.join(root, 'segmentations', rel[:-4] + '.png'),
            cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.shape == (size, size)
        assert set(np.unique(mask)) <= {0, 255}
        ys, xs = np.nonzero(mask)
        # The box is the tight box of the mask.
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == \
            (x, y, x + w, y + h)
        vis = data['parts'][k][:, 2] > 0
        # 13 = all but the far eye and far wing; occluders ('hard') hide
        # some parts.
        assert vis.sum() == 13 if cfg['difficulty'] == 'easy' else \
            3 <= vis.sum() <= 13
        for px, py, _ in data['parts'][k][vis]:
            assert x <= px <= x + w and y <= py <= y + h
            col, row = int(px), int(py)
            assert mask[max(row - 1, 0):row + 2,
                        max(col - 1, 0):col + 2].any(), (rel, px, py)


def test_left_and_right_follow_the_facing_direction(dataset):
    root, _ = dataset
    data = _load(root)
    facings = set()
    for parts in data['parts']:
        beak, nape = parts[P['beak']], parts[P['nape']]
        if not (beak[2] and nape[2]):
            continue  # occluded: facing unknown from the annotation
        facing_right = beak[0] > nape[0]
        near, far = ('right', 'left') if facing_right else ('left', 'right')
        facings.add(near)
        # The far side is hidden by the body; the near eye and wing show.
        assert parts[P[f'{far} eye'], 2] == 0
        assert parts[P[f'{far} wing'], 2] == 0
        # Both legs are drawn; the near one is in front (not hidden).
        tail = parts[P['tail']]
        if tail[2]:
            assert (beak[0] - tail[0]) * (1 if near == 'right' else -1) > 0
    assert facings == {'left', 'right'}


def test_flip_pairs_match_the_cub_convention():
    from mmfg.datasets.utils import part_flip_pairs
    assert part_flip_pairs(PART_NAMES) == list(PART_FLIP_PAIRS)


@pytest.mark.parametrize('difficulty', ['easy', 'hard'])
def test_mirrored_scene_mirrors_image_and_swaps_sides(difficulty):
    attrs = attributes_from_code(class_codes(3, difficulty)[2])
    flip = {i: i for i in range(15)}
    for a, b in PART_FLIP_PAIRS:
        flip[a], flip[b] = b, a
    for i in range(6):
        scene = sample_scene(np.random.default_rng([11, i]), 96, difficulty)
        out = render_bird(attrs, scene)
        mir = render_bird(attrs, mirror_scene(scene))
        for p in range(15):
            q = flip[p]
            assert mir.parts[q, 2] == out.parts[p, 2]
            if out.parts[p, 2]:
                np.testing.assert_allclose(
                    mir.parts[q, :2], (96 - out.parts[p, 0], out.parts[p, 1]),
                    atol=1e-3)
        # Same picture up to anti-aliasing rounding.
        diff = np.abs(mir.image.astype(np.int16) - out.image[:, ::-1])
        assert diff.mean() < 1.0
        m1, m2 = mir.mask > 0, out.mask[:, ::-1] > 0
        assert (m1 & m2).sum() / (m1 | m2).sum() > 0.95
        # Exactly one eye, the near one, is visible (unless occluded).
        eyes = out.parts[[P['left eye'], P['right eye']], 2]
        assert eyes.sum() <= 1
        near = 'right' if scene.pose.facing > 0 else 'left'
        assert out.parts[P[f'{near} eye'],
                         2] == out.attribute_visible['eye_ring']


# ----------------------------------------------------------------------------
# Fine-grainedness
# ----------------------------------------------------------------------------
@pytest.mark.parametrize('difficulty,num', [('easy', 50), ('medium', 200),
                                            ('hard', 200)])
def test_classes_pairwise_differ_in_part_attributes(difficulty, num):
    cfg = DIFFICULTIES[difficulty]
    codes = class_codes(num, difficulty)
    assert codes.shape == (num, len(PART_ATTRIBUTES))
    dist = (codes[:, None] != codes[None]).sum(-1)
    off = dist[~np.eye(num, dtype=bool)]
    assert off.min() >= cfg.min_class_distance >= 1
    # The first classes (the defaults use 10) are further apart.
    assert dist[:10, :10][~np.eye(10, dtype=bool)].min() >= 3
    # Only the difficulty's attributes vary; definitions are prefix-stable.
    for a, attr in enumerate(PART_ATTRIBUTES):
        used = {attr.values[i] for i in codes[:, a]}
        assert used <= set(cfg.values_of(attr.name))
    np.testing.assert_array_equal(class_codes(5, difficulty), codes[:5])


def test_class_count_limits():
    assert len(np.unique(class_codes(999, 'hard'), axis=0)) == 999
    for difficulty, cfg in DIFFICULTIES.items():
        with pytest.raises(ValueError, match='classes'):
            class_codes(cfg.max_classes + 1, difficulty)
    with pytest.raises(ValueError, match='difficulty'):
        class_codes(3, 'impossible')


@pytest.mark.parametrize('difficulty', ['easy', 'medium', 'hard'])
def test_classes_differ_only_inside_their_part_regions(difficulty):
    codes = class_codes(8, difficulty)
    base = attributes_from_code(codes[0])
    changed = {a.name: 0 for a in PART_ATTRIBUTES}
    for i in range(8):
        scene = sample_scene(np.random.default_rng([5, i]), 96, difficulty)
        ref = render_bird(base, scene)
        bird = ref.mask > 0
        # Another class: differences only inside the union of part regions.
        other = render_bird(attributes_from_code(codes[1 + i % 7]), scene)
        diff = (other.image != ref.image).any(-1)
        assert diff.any()
        assert not (diff & (ref.region_mask == 0)).any()
        np.testing.assert_array_equal(other.region_mask, ref.region_mask)
        for attr in PART_ATTRIBUTES:
            region = ref.part_regions[attr.name]
            # Each part region is a local patch of the bird.
            assert (region & bird).sum() <= 0.4 * bird.sum()
            for value in attr.values:
                if value == base[attr.name]:
                    continue
                out = render_bird({**base, attr.name: value}, scene)
                d = (out.image != ref.image).any(-1)
                assert not (d & ~region).any(), (attr.name, value)
                changed[attr.name] += int(d.any())
    assert all(v > 0 for v in changed.values()), changed


def test_ablating_the_parts_removes_every_class_difference():
    codes = class_codes(10, 'medium')
    for i in range(6):
        scene = sample_scene(np.random.default_rng([9, i]), 80, 'medium')
        renders = [
            render_bird(attributes_from_code(c), scene, ablate_parts=True)
            for c in codes[:4]
        ]
        normal = render_bird(attributes_from_code(codes[0]), scene)
        for r in renders[1:]:
            np.testing.assert_array_equal(r.image, renders[0].image)
        # Outside the part regions the ablated bird is the normal bird.
        outside = normal.region_mask == 0
        np.testing.assert_array_equal(renders[0].image[outside],
                                      normal.image[outside])


def test_keypoints_sit_on_their_parts():
    attrs = attributes_from_code(class_codes(4, 'easy')[3])
    for i in range(10):
        scene = sample_scene(np.random.default_rng([2, i]), 128, 'easy')
        out = render_bird(attrs, scene)
        near = 'right' if scene.pose.facing > 0 else 'left'
        for part, region in (('crown', 'crest'), ('beak', 'beak'),
                             (f'{near} eye', 'eye_ring')):
            x, y, v = out.parts[P[part]]
            assert v == 1
            assert out.part_regions[region][int(y), int(x)], (part, i)
        # Head parts are above the legs, beak in front of the nape.
        parts = out.parts
        assert parts[P['crown'], 1] < parts[P['left leg'], 1]
        assert (parts[P['beak'], 0] - parts[P['nape'], 0]) * \
            scene.pose.facing > 0


# ----------------------------------------------------------------------------
# Bad input and the command line
# ----------------------------------------------------------------------------
@pytest.mark.parametrize('kwargs,error,match', [
    (dict(difficulty='nightmare'), ValueError, 'difficulty'),
    (dict(num_classes=51), ValueError, 'classes'),
    (dict(num_classes=0), ValueError, 'num_classes'),
    (dict(image_size=16), ValueError, 'image_size'),
    (dict(images_per_class=2.5), TypeError, 'images_per_class'),
    (dict(train_fraction=1.5), ValueError, 'train_fraction'),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        generate_synthbirds(str(tmp_path / 'x'), progress=False, **kwargs)
    assert not osp.exists(tmp_path / 'x')
    assert os.listdir(tmp_path) == []  # no temporary folder left behind


def test_renderer_refuses_unknown_attributes():
    scene = sample_scene(np.random.default_rng(0), 48)
    attrs = attributes_from_code(class_codes(1, 'easy')[0])
    with pytest.raises(ValueError, match="'crest' must be one of"):
        render_bird({**attrs, 'crest': 'pink'}, scene)
    with pytest.raises(ValueError, match="'tail' must be one of"):
        render_bird({k: v for k, v in attrs.items() if k != 'tail'}, scene)
    with pytest.raises(ValueError, match='image_size'):
        sample_scene(np.random.default_rng(0), 16)


def test_foreign_folder_is_never_overwritten(tmp_path):
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not a SynthBirds folder'):
        generate_synthbirds(
            str(foreign),
            num_classes=2,
            images_per_class=2,
            image_size=32,
            progress=False)
    assert os.listdir(foreign) == ['notes.txt']
    assert sorted(os.listdir(tmp_path)) == ['mine']
    target = tmp_path / 'file'
    target.write_text('x')
    with pytest.raises(FileExistsError, match='not a folder'):
        generate_synthbirds(str(target), progress=False)


def test_regenerating_replaces_an_earlier_synthbirds(tmp_path):
    root = str(tmp_path / 'sb')
    os.makedirs(root)  # an empty folder is accepted
    generate_synthbirds(
        root, num_classes=3, images_per_class=2, image_size=32, progress=False)
    generate_synthbirds(
        root,
        num_classes=2,
        images_per_class=3,
        image_size=32,
        with_masks=False,
        progress=False)
    assert len(os.listdir(osp.join(root, 'images'))) == 2
    assert not osp.exists(osp.join(root, 'segmentations'))
    assert len(_table(root, 'images.txt')) == 6
    assert read_synthbirds_config(root)['gen_cfg']['num_classes'] == 2
    assert sorted(os.listdir(tmp_path)) == ['sb']


def _cli():
    path = osp.join(ROOT, 'tools', 'dataset_converters',
                    'generate_synthbirds.py')
    spec = importlib.util.spec_from_file_location('generate_synthbirds_cli',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line(tmp_path, capsys):
    cli = _cli()
    out_dir = str(tmp_path / 'cli')
    assert cli.main([
        out_dir, '--num-classes', '3', '--images-per-class', '4',
        '--image-size', '40', '--seed', '2', '--difficulty', 'medium',
        '--no-masks', '--no-progress'
    ]) == 0
    printed = capsys.readouterr().out
    assert '12 images (6 train, 6 test), 3 classes' in printed
    assert not osp.exists(osp.join(out_dir, 'segmentations'))
    assert read_synthbirds_config(out_dir)['gen_cfg'] == dict(
        num_classes=3,
        images_per_class=4,
        image_size=40,
        seed=2,
        difficulty='medium',
        train_fraction=0.5,
        with_masks=False)
    assert cli.main(
        [str(tmp_path / 'bad'), '--num-classes', '999', '--no-progress']) == 1
    assert 'error:' in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(['--help'])
    assert e.value.code == 0
    assert '--difficulty' in capsys.readouterr().out


# ----------------------------------------------------------------------------
# Learnability (slow): a random-init ResNet-18 learns the default SynthBirds
# from the parts alone.
# ----------------------------------------------------------------------------
@pytest.mark.slow
def test_resnet18_learns_the_parts(tmp_path):
    torch = pytest.importorskip('torch')
    torchvision = pytest.importorskip('torchvision')
    import torch.nn.functional as F
    root = str(tmp_path / 'synthbirds')
    generate_synthbirds(root, progress=False)  # the defaults: easy, 10 cls
    data = _load(root)
    defs = class_definitions(10, 'easy')
    jpeg = [
        cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
    ]
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)

    def to_tensor(images):
        x = (np.stack(images)[..., ::-1] / 255.0 - mean) / std
        return torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2)

    normal, ablated = [], []
    for k, rel in enumerate(data['paths']):
        normal.append(cv2.imread(osp.join(root, 'images', rel)))
        if not data['train'][k]:
            # The same test image with its parts painted over.
            scene = sample_scene(
                np.random.default_rng([0, data['ids'][k]]), 128, 'easy')
            img = render_bird(
                defs[data['labels'][k] - 1], scene, ablate_parts=True).image
            ablated.append(
                cv2.imdecode(
                    cv2.imencode('.jpg', img, jpeg)[1], cv2.IMREAD_COLOR))
    x, y = to_tensor(normal), torch.from_numpy(data['labels'] - 1)
    train = torch.from_numpy(data['train'] == 1)
    x_tr, y_tr, x_te, y_te = x[train], y[train], x[~train], y[~train]
    x_ab = to_tensor(ablated)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        model = torchvision.models.resnet18(num_classes=10)
        epochs, bs = 9, 32
        steps = epochs * ((len(x_tr) + bs - 1) // bs)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=2e-3, total_steps=steps, pct_start=0.2)
        for _ in range(epochs):
            perm = torch.randperm(len(x_tr), generator=gen)
            for i in range(0, len(x_tr), bs):
                idx = perm[i:i + bs]
                xb = x_tr[idx]
                flip = torch.rand(len(xb), generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                # Random translation by up to 8 px.
                xb = F.pad(xb, (8, 8, 8, 8), mode='replicate')
                dx, dy = torch.randint(0, 17, (2, ), generator=gen).tolist()
                xb = xb[:, :, dy:dy + 128, dx:dx + 128]
                loss = F.cross_entropy(
                    model(xb), y_tr[idx], label_smoothing=0.1)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_te).argmax(1) == y_te).float().mean().item()
            acc_ab = (model(x_ab).argmax(1) == y_te).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert acc >= 0.6, acc  # chance is 0.1
    assert acc_ab <= 0.25, acc_ab  # without the parts: near chance


@pytest.mark.parametrize('difficulty', ['easy', 'hard'])
def test_small_images_never_draw_from_an_empty_range(difficulty):
    """A bird scaled to fit leaves a zero-width placement range (it came out
    as -1e-15 for 32 px, seed 0, image 28): every scene must still render
    inside the image."""
    for img_id in range(1, 61):
        scene = sample_scene(np.random.default_rng([0, img_id]), 32,
                             difficulty)
        cx, cy = scene.pose.center
        assert 0 <= cx <= 32 and 0 <= cy <= 32

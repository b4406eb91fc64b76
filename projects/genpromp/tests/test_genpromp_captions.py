"""SynthBirds captions (stage 0 of GenPromp): words, dataset, model stage."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from mmfg.datasets.synth import generate_synthbirds
from mmfg.datasets.synth.render import (_BG_PALETTE, _BODY_PALETTE,
                                        render_bird, sample_scene)
from mmfg.utils.errors import ConfigError
from projects.genpromp.genpromp.captions import (BACKGROUND_WORDS,
                                                 BODY_COLOUR_WORDS,
                                                 CAPTION_WORDS,
                                                 SynthBirdsCaptions,
                                                 background_word,
                                                 body_colour_word,
                                                 synthbirds_scene_words)

GEN = dict(num_classes=3, images_per_class=4, image_size=64, seed=3,
           difficulty='easy')


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('sb') / 'synthbirds')
    generate_synthbirds(root, progress=False, **GEN)
    return root


def test_body_colour_word_names_each_palette_colour():
    assert len(BODY_COLOUR_WORDS) == len(_BODY_PALETTE)
    for word, rgb in zip(BODY_COLOUR_WORDS, _BODY_PALETTE):
        assert body_colour_word(rgb) == word
        # the generator's brightness scale keeps the name (interior of
        # [0.85, 1.15]: 0.9 and 1.1)
        for s in (0.9, 1.1):
            assert body_colour_word(np.asarray(rgb) * s) == word
    # hand-computed: (100, 100, 100) is grey (122,122,118) scaled by
    # 0.835 -> clamped to 0.85 -> error |(100 - 103.7, ..)| ~ 6.0, which
    # beats slate (92, 102, 118) at s = 0.911 (error ~ 18)
    assert body_colour_word((100, 100, 100)) == 'grey'


def test_background_word_is_the_nearest_palette_colour():
    assert len(BACKGROUND_WORDS) == len(_BG_PALETTE)
    for word, rgb in zip(BACKGROUND_WORDS, _BG_PALETTE):
        img = np.empty((4, 5, 3), np.uint8)
        img[:] = rgb[::-1]  # BGR
        assert background_word(img) == word
    # hand-computed: RGB (200, 205, 180) -> overcast (200, 200, 190) at
    # distance 11.2; pale sky (170, 200, 230) 58.5, sand (180, 160, 120)
    # 77.6. The mean over pixels is what counts: half (190, 205, 180),
    # half (210, 205, 180)
    img = np.empty((2, 2, 3), np.uint8)
    img[0] = (180, 205, 190)  # BGR
    img[1] = (180, 205, 210)
    assert background_word(img) == 'cloud'


def test_scene_words_come_from_the_generated_image(tiny_root):
    """The recomputed scene is the one the generator drew: its rendering
    matches the written JPEG, another image's does not."""
    import json
    import os.path as osp
    with open(osp.join(tiny_root, 'synthbirds.json')) as f:
        meta = json.load(f)
    with open(osp.join(tiny_root, 'images.txt')) as f:
        rel = dict(line.split() for line in f)
    img_id = 5
    c = (img_id - 1) // GEN['images_per_class']
    jpg = cv2.imread(osp.join(tiny_root, 'images', rel[str(img_id)]))

    def render(i):
        scene = sample_scene(np.random.default_rng([GEN['seed'], i]),
                             GEN['image_size'], GEN['difficulty'])
        return render_bird(meta['class_definitions'][c], scene,
                           with_regions=False).image.astype(np.float64)

    same = np.abs(render(img_id) - jpg).mean()
    other = np.abs(render(img_id + 1) - jpg).mean()
    assert same < 3.0 < other
    scene = sample_scene(np.random.default_rng([GEN['seed'], img_id]),
                         GEN['image_size'], GEN['difficulty'])
    words = synthbirds_scene_words(GEN['seed'], img_id, GEN['image_size'],
                                   GEN['difficulty'])
    assert words == dict(body=body_colour_word(scene.style.body),
                         background=background_word(scene.background))


def test_dataset_adds_captions(tiny_root):
    ds = SynthBirdsCaptions(
        data_root=tiny_root, gen_cfg=GEN, split='all',
        caption_templates=('a photo of a {body} bird on {background}',
                           '{background} {body}'))
    assert len(ds) == 12
    for i in (0, 7):
        info = ds.get_data_info(i)
        w = synthbirds_scene_words(GEN['seed'], info['img_id'],
                                   GEN['image_size'], GEN['difficulty'])
        assert info['texts'] == [
            f'a photo of a {w["body"]} bird on {w["background"]}',
            f'{w["background"]} {w["body"]}'
        ]
        assert set(info['texts'][0].split()) <= set(CAPTION_WORDS)
    with pytest.raises(ConfigError, match='unknown field'):
        SynthBirdsCaptions(data_root=tiny_root, gen_cfg=GEN,
                           caption_templates=('a {colour} bird', ))
    with pytest.raises(ConfigError, match='empty'):
        SynthBirdsCaptions(data_root=tiny_root, gen_cfg=GEN,
                           caption_templates=())


def _caption_batch(texts, labels, size=64):
    g = torch.Generator().manual_seed(0)
    imgs = (torch.rand(len(labels), 3, size, size, generator=g) *
            255).round()
    samples = []
    for t, c in zip(texts, labels):
        s = DataSample().set_gt_label(int(c))
        if t is not None:
            s.set_metainfo(dict(texts=t))
        samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def test_stage0_trains_unet_and_text_encoder(tiny_genpromp,
                                             tiny_components):
    pytest.importorskip('diffusers', reason='GenPromp needs diffusers')
    comp = dict(tiny_components)
    comp['tokenizer'] = dict(
        comp['tokenizer'],
        words=list(comp['tokenizer']['words']) + list(CAPTION_WORDS))
    model = tiny_genpromp(stage='caption', components=comp,
                          meta_words=['bird'] * 3)
    caps = [['a photo of a tan bird on sky'], 'a photo of a grey bird']
    ids = model.caption_ids(_caption_batch(caps, [0, 1])['data_samples'])
    tok = model.tokenizer
    bird = tok.convert_tokens_to_ids('bird')
    tan = tok.convert_tokens_to_ids('tan')
    # one token per word: start, a, photo, of, a, tan (index 5), bird ...
    assert ids.shape == (2, tok.model_max_length)
    assert ids[0, 5] == tan and ids[0, 6] == bird
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optim = OptimWrapper(
        torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-2))
    model.train()
    assert model.text_encoder.training
    losses = model.train_step(_caption_batch(caps, [0, 1]), optim)
    assert torch.isfinite(losses['loss'])
    after = model.state_dict()
    changed = {k.split('.')[0] for k in before
               if not torch.equal(before[k], after[k])}
    assert changed == {'unet', 'text_encoder'}
    # the token table trained, and the class rows follow the meta word's
    # (trained) row exactly
    emb = model.prompt_embedding
    assert not torch.equal(emb.base.weight[bird],
                           before[_key(before, 'base.weight')][bird])
    for c in range(3):
        assert torch.equal(emb.prompts[c], emb.base.weight[bird])
    # without the text encoder, only the UNet trains
    frozen = tiny_genpromp(stage='caption', components=comp,
                           meta_words=['bird'] * 3, train_text_encoder=False)
    names = [n for n, p in frozen.named_parameters() if p.requires_grad]
    assert names and all(n.startswith('unet.') for n in names)


def _key(state, suffix):
    (key, ) = [k for k in state if k.endswith(suffix)]
    return key


def test_stage0_caption_errors(tiny_genpromp):
    model = tiny_genpromp(stage='caption')
    with pytest.raises(ValueError, match='texts'):
        model.loss(**_caption_batch([None], [0]))
    # unknown words fall back to letters: too long for 12 tokens
    with pytest.raises(ValueError, match='tokenizer length'):
        model.caption_ids(
            _caption_batch(['a photo of a magenta bird'],
                           [0])['data_samples'])
    with pytest.raises(ConfigError, match='"caption"'):
        tiny_genpromp(stage='pretrain')

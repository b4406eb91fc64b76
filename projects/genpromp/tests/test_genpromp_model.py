"""GenPromp model: what trains, the caches, prompts and clear errors."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from mmfg.utils.errors import ConfigError
from projects.genpromp.genpromp import (CAPTION_TEMPLATES,
                                        PromptTokenEmbedding,
                                        build_sd_components,
                                        build_tiny_clip_tokenizer,
                                        encode_templates,
                                        meta_words_from_names,
                                        read_class_names)

pytest.importorskip('diffusers', reason='GenPromp needs diffusers')
pytest.importorskip('transformers', reason='GenPromp needs transformers')


def _batch(labels, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    imgs = (torch.rand(len(labels), 3, size, size, generator=g) *
            255).round()
    samples = [DataSample().set_gt_label(int(c)) for c in labels]
    return dict(inputs=imgs, data_samples=samples)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_stage1_trains_only_the_prompt_rows_of_the_batch(tiny_genpromp):
    model = tiny_genpromp(stage='prompt')
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ['text_encoder.text_model.embeddings.'
                         'token_embedding.prompts'] or trainable == [
                             'text_encoder.embeddings.token_embedding.'
                             'prompts']
    before = _snapshot(model)
    table_before = model.prompt_embedding.weight.detach().clone()
    # no weight decay (as the stage-1 configs): a decoupled decay would
    # shrink the rows of classes absent from the batch
    optim = OptimWrapper(
        torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0))
    model.train()
    model.train_step(_batch([0, 2]), optim)
    after = model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == 1 and changed[0].endswith('prompts')
    prompts0, prompts1 = before[changed[0]], after[changed[0]]
    # classes 0 and 2 were in the batch, class 1 was not
    assert not torch.equal(prompts0[0], prompts1[0])
    assert not torch.equal(prompts0[2], prompts1[2])
    assert torch.equal(prompts0[1], prompts1[1])
    # the whole effective table: the CLIP rows are bit-identical
    table_after = model.prompt_embedding.weight.detach()
    v = model.prompt_embedding.base_vocab_size
    assert torch.equal(table_before[:v], table_after[:v])


def test_stage2_trains_only_the_unet(tiny_genpromp):
    model = tiny_genpromp(stage='unet')
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.startswith('unet.') for n in names)
    before = _snapshot(model)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    model.train()
    losses = model.train_step(_batch([1, 1]), optim)
    assert torch.isfinite(losses['loss'])
    after = model.state_dict()
    changed = {k.split('.')[0] for k in before
               if not torch.equal(before[k], after[k])}
    assert changed == {'unet'}


def test_prompt_init_is_the_meta_word_embedding(tiny_genpromp):
    model = tiny_genpromp()
    tokens = model._class_tokens()
    base = model.prompt_embedding.base.weight
    assert torch.equal(model.prompt_embedding.prompts,
                       base[tokens['meta_ids']])
    # 'conebill', 'hookbill', 'hookbill'
    assert tokens['meta_ids'][1] == tokens['meta_ids'][2] != \
        tokens['meta_ids'][0]
    # representative ids differ from discriminative ones only at pos
    rep, disc, pos = tokens['rep'], tokens['disc'], tokens['pos']
    assert pos == 5
    diff = (rep != disc).nonzero()
    assert set(diff[:, 2].tolist()) == {pos}
    assert rep[:, :, pos].tolist() == [[base.shape[0] + c] * 7
                                       for c in range(3)]


def test_cached_text_embeddings_equal_recomputed(tiny_genpromp):
    model = tiny_genpromp().eval()
    labels = torch.tensor([2, 0, 2])
    first = model.class_embeddings(labels)
    assert sorted(model._emb_cache) == [0, 2]
    # recomputed by hand: mean over templates of the last hidden states
    tok = model._class_tokens()
    for row, c in zip(first, labels.tolist()):
        with torch.no_grad():
            rep = model.text_encoder(
                input_ids=tok['rep'][c]).last_hidden_state.mean(0)
            disc = model.text_encoder(
                input_ids=tok['disc'][c]).last_hidden_state.mean(0)
        torch.testing.assert_close(row, 0.6 * rep + 0.4 * disc)
    # the cache is used (a changed prompt does not leak in while cached) ...
    with torch.no_grad():
        model.prompt_embedding.prompts.add_(1.0)
    assert torch.equal(model.class_embeddings(labels), first)
    # ... and dropped by train() and by loading weights
    model.train().eval()
    assert model._emb_cache == {}
    changed = model.class_embeddings(labels)
    assert not torch.allclose(changed, first)
    model.load_state_dict(model.state_dict())
    assert model._emb_cache == {}
    # training mode never caches
    model.train()
    model.class_embeddings(labels)
    assert model._emb_cache == {}


def test_predict_sets_loc_map_and_centre_baseline(tiny_genpromp):
    model = tiny_genpromp().eval()
    batch = model.data_preprocessor(_batch([0, 1]), False)
    out = model.predict(**batch)
    assert [tuple(s.loc_map.shape) for s in out] == [(16, 16)] * 2
    assert all(torch.isfinite(s.loc_map).all() for s in out)
    # deterministic (seeded noise, cached embeddings)
    again = model.predict(**model.data_preprocessor(_batch([0, 1]), False))
    assert torch.equal(out[0].loc_map, again[0].loc_map)
    centre = tiny_genpromp(map_source='centre').eval()
    res = centre.predict(**batch)
    from mmfg.models.classifiers.cam_localizer import centre_map
    assert torch.equal(res[0].loc_map, centre_map(64, 64))


def test_prompt_token_embedding_equals_concatenated_table():
    base = torch.nn.Embedding(10, 4)
    emb = PromptTokenEmbedding(base, [3, 7])
    with torch.no_grad():
        emb.prompts.add_(torch.randn(2, 4))
    ids = torch.tensor([[0, 10, 9, 11], [11, 3, 10, 1]])
    ref = torch.nn.functional.embedding(ids, emb.weight)
    torch.testing.assert_close(emb(ids), ref, rtol=0, atol=0)
    assert not base.weight.requires_grad and emb.prompts.requires_grad


def test_templates_tokenizer_and_names(tmp_path):
    assert meta_words_from_names(['001.Black_footed_Albatross',
                                  'Laysan albatross, Diomedea',
                                  '010.Green-Hookbill']) == [
                                      'albatross', 'albatross', 'hookbill']
    words = {w for t in CAPTION_TEMPLATES for w in t[:-2].split()}
    tok = build_tiny_clip_tokenizer(
        sorted(words) + ['albatross'], model_max_length=12)
    ids, pos = encode_templates(tok, CAPTION_TEMPLATES, ['albatross'])
    assert ids.shape == (1, 7, 12) and pos == 5
    assert tok.convert_ids_to_tokens(ids[0, 0, :7].tolist()) == [
        '<|startoftext|>', 'a', 'photo', 'of', 'a', 'albatross',
        '<|endoftext|>']
    with pytest.raises(ConfigError, match='different positions'):
        encode_templates(tok, ['a photo of a {}', 'a {}'], ['albatross'])
    with pytest.raises(ConfigError, match='exactly one'):
        encode_templates(tok, ['a photo'], ['albatross'])
    f = tmp_path / 'classes.txt'
    f.write_text('1 001.A_Conebill\n2 002.B_Hookbill\n')
    assert read_class_names(str(f)) == ['001.A_Conebill', '002.B_Hookbill']
    with pytest.raises(ConfigError, match='classes.txt'):
        read_class_names(str(tmp_path / 'missing' / 'classes.txt'))


def test_clear_errors(tiny_genpromp, tmp_path):
    with pytest.raises(ConfigError, match='stable-diffusion-v1-4'):
        build_sd_components(str(tmp_path / 'sd'))
    with pytest.raises(ConfigError, match='pretrained_model_path'):
        build_sd_components(None, None)
    with pytest.raises(ConfigError, match='stage'):
        tiny_genpromp(stage='both')
    with pytest.raises(ConfigError, match='num_classes=4'):
        tiny_genpromp(num_classes=4)
    model = tiny_genpromp().eval()
    with pytest.raises(ValueError, match='gt_label'):
        model.predict(torch.zeros(1, 3, 64, 64), [DataSample()])

"""Attention capture of GenPromp: exactness, probabilities, batching."""
import pytest
import torch
import torch.nn.functional as F

from projects.genpromp.genpromp import (AttentionStore, aggregate_maps,
                                        install_capture)

pytest.importorskip('diffusers', reason='GenPromp needs diffusers')
pytest.importorskip('transformers', reason='GenPromp needs transformers')


def _inputs(model, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 4, 16, 16, generator=g)
    t = torch.tensor([0, 99][:batch])
    cond = model.class_embeddings(torch.arange(batch))
    return latents, t, cond


def test_capture_processor_keeps_unet_output(tiny_genpromp):
    from diffusers.models.attention_processor import AttnProcessor2_0
    model = tiny_genpromp().eval()
    unet = model.unet
    latents, t, cond = _inputs(model)
    store = model.attn_store
    store.token_index = None
    store.active = True
    with torch.no_grad():
        captured = unet(latents, t, encoder_hidden_states=cond).sample
    store.active = False
    assert len(store.maps) == model.num_cross_attn == 7
    unet.set_attn_processor(AttnProcessor2_0())
    with torch.no_grad():
        default = unet(latents, t, encoder_hidden_states=cond).sample
    torch.testing.assert_close(captured, default, atol=1e-5, rtol=1e-5)
    # and the inactive capture path is the default processor itself
    install_capture(unet, store)
    store.reset()
    with torch.no_grad():
        inactive = unet(latents, t, encoder_hidden_states=cond).sample
    assert torch.equal(inactive, default)
    assert store.maps == []


def test_captured_probabilities_sum_to_one_and_match_reference(
        tiny_genpromp):
    model = tiny_genpromp().eval()
    latents, t, cond = _inputs(model)
    store = model.attn_store
    store.token_index = None
    store.active = True
    with torch.no_grad():
        model.unet(latents, t, encoder_hidden_states=cond)
    store.active = False
    length = cond.shape[1]
    for name, place, probs in store.maps:
        assert place in ('down', 'mid', 'up')
        assert probs.shape[0] == 2 and probs.shape[-1] == length
        torch.testing.assert_close(
            probs.sum(-1), torch.ones(probs.shape[:2]), atol=1e-5, rtol=0)
    # recompute one layer by hand: softmax(q k^T / sqrt(d)), head mean
    attn = model.unet.down_blocks[1].attentions[0].transformer_blocks[
        0].attn2
    seen = {}

    def hook(mod, args, kwargs):
        seen['x'] = args[0] if args else kwargs['hidden_states']

    h = attn.register_forward_pre_hook(hook, with_kwargs=True)
    store.reset()
    store.active = True
    with torch.no_grad():
        model.unet(latents, t, encoder_hidden_states=cond)
    store.active = False
    h.remove()
    x = seen['x']
    heads = attn.heads
    q = attn.to_q(x)
    k = attn.to_k(cond)
    d = q.shape[-1] // heads
    q = q.view(2, -1, heads, d).transpose(1, 2)
    k = k.view(2, -1, heads, d).transpose(1, 2)
    ref = ((q @ k.transpose(-1, -2)) / d**0.5).softmax(-1).mean(1)
    got = dict((n, p) for n, _, p in store.maps)[
        'down_blocks.1.attentions.0.transformer_blocks.0.attn2.processor']
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_both_timesteps_in_one_call_equal_two_calls(tiny_genpromp):
    model = tiny_genpromp().eval()
    g = torch.Generator().manual_seed(3)
    images = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    labels = torch.tensor([2, 0])
    batched = model.localization_maps(images, labels)
    assert batched.shape == (2, 16, 16)

    # reference: one UNet call per timestep, maps averaged afterwards
    with torch.no_grad():
        latents = model.encode_images(images)
        gen = torch.Generator().manual_seed(model.noise_seed)
        noise = torch.randn(latents.shape, generator=gen)
        cond = model.class_embeddings(labels)
        store = model.attn_store
        store.token_index = model._class_tokens()['pos']
        per_step = []
        for step in model.timesteps:
            t = torch.full((2, ), step)
            noisy = model.scheduler.add_noise(latents, noise, t)
            store.reset()
            store.active = True
            model.unet(noisy, t, encoder_hidden_states=cond)
            store.active = False
            per_step.append(
                aggregate_maps(store, (16, 16), (8, 16), num_steps=1))
        store.reset()
    ref = torch.stack(per_step).mean(0)
    torch.testing.assert_close(batched, ref, atol=1e-5, rtol=1e-4)


def test_aggregate_maps_hand_computed():
    store = AttentionStore(token_index=[0])
    # latent 4 x 4: two 'up' layers at 4 x 4, one 'mid' layer at 2 x 2;
    # two timesteps, batch 1
    a = torch.arange(2 * 16, dtype=torch.float32).view(2, 16, 1)
    b = torch.ones(2, 16, 1) * 3
    c = torch.tensor([1., 2., 3., 4., 5., 6., 7., 8.]).view(2, 4, 1)
    store.maps = [('u0', 'up', a), ('u1', 'up', b), ('m', 'mid', c)]
    out = aggregate_maps(store, (4, 4), resolutions=(2, 4), num_steps=2)
    up = ((a[0] + a[1]) / 2 + 3) / 2
    mid = ((c[0] + c[1]) / 2).view(1, 1, 2, 2)
    mid = F.interpolate(mid, size=(4, 4), mode='bicubic',
                        align_corners=False)
    ref = (up.view(1, 4, 4) + mid[0]) / 2
    torch.testing.assert_close(out, ref)
    # only the 4 x 4 layers
    out4 = aggregate_maps(store, (4, 4), resolutions=(4, ), num_steps=2)
    torch.testing.assert_close(out4, up.view(1, 4, 4))


def test_aggregate_maps_wrong_resolution_is_clear():
    from mmfg.utils.errors import ConfigError
    store = AttentionStore()
    store.maps = [('u0', 'up', torch.rand(2, 16, 1))]
    with pytest.raises(ConfigError, match='attn_resolutions'):
        aggregate_maps(store, (4, 4), resolutions=(8, ), num_steps=2)


def test_aggregate_maps_non_square_orientation(tiny_genpromp):
    # latent 4 x 2 (H > W): row-major positions, value = 10 * y + x; the
    # 2 x 1 layer holds 100 * y. Maps must come back as (h, w), not (w, h).
    store = AttentionStore(token_index=[0])
    ys, xs = torch.meshgrid(torch.arange(4.), torch.arange(2.),
                            indexing='ij')
    fine = (10 * ys + xs).reshape(1, 8, 1)
    coarse = torch.tensor([0., 100.]).view(1, 2, 1)
    store.maps = [('u', 'up', fine), ('m', 'mid', coarse)]
    out = aggregate_maps(store, (4, 2), resolutions=(2, 4), num_steps=1)
    mid = F.interpolate(
        coarse.view(1, 1, 2, 1), size=(4, 2), mode='bicubic',
        align_corners=False)[0]
    torch.testing.assert_close(out, ((10 * ys + xs)[None] + mid) / 2)
    # the model: a 64 x 32 input gives 16 x 8 maps (height first)
    model = tiny_genpromp().eval()
    maps = model.localization_maps(torch.zeros(2, 3, 64, 32),
                                   torch.tensor([0, 1]))
    assert maps.shape == (2, 16, 8)

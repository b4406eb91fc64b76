"""Benchmark GenPromp's inference against straightforward references.

Two comparisons, on the same machine and in one run, ratios printed:

1. Localisation maps of a batch: both timesteps (0, 99) stacked in ONE UNet
   call (:meth:`GenPromp.localization_maps`) against one UNet call per
   timestep (as the official code), maps checked equal;
2. the text conditioning: embeddings computed once per class and cached
   (eval mode) against re-encoding the 2 x 7 template prompts of every
   image of every batch (as the official code), checked equal.

The SynthBirds configs' tiny random Stable Diffusion is used (no
download); ``--width`` sets the UNet channels. Example::

    python tools/benchmarks/bench_genpromp.py
    python tools/benchmarks/bench_genpromp.py --device cuda --width 128 \\
        --img-size 256 --batch 16
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.registry import init_default_scope

from mmfg.utils.benchmark import time_fn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--width', type=int, default=32, help='UNet base channels')
    p.add_argument('--img-size', type=int, default=64)
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--num-classes', type=int, default=20)
    p.add_argument('--repeat', type=int, default=5)
    return p.parse_args()


def build(args):
    from mmengine.config import Config

    import projects.genpromp.genpromp  # noqa: F401
    from mmfg.registry import MODELS
    components = Config.fromfile(
        osp.join(ROOT, 'projects', 'genpromp', 'configs', '_base_',
                 'genpromp_tiny-sd.py')).tiny_components.to_dict()
    components['unet'].update(
        sample_size=args.img_size // 4,
        block_out_channels=(args.width, 2 * args.width))
    components['tokenizer'].update(words=['bird'])
    lat = args.img_size // 4
    model = MODELS.build(
        dict(
            type='GenPromp',
            num_classes=args.num_classes,
            class_names=[f'{i:03d}.Bird' for i in range(args.num_classes)],
            components=components,
            attn_resolutions=(lat // 2, lat)))
    model.init_weights()
    return model.to(args.device).eval()


def two_calls(model, images, labels):
    """The reference: one UNet call per timestep, maps averaged."""
    from projects.genpromp.genpromp import aggregate_maps
    with torch.no_grad():
        latents = model.encode_images(images)
        gen = torch.Generator(device=latents.device)
        gen.manual_seed(model.noise_seed)
        noise = torch.randn(
            latents.shape, generator=gen, device=latents.device)
        cond = model.class_embeddings(labels)
        store = model.attn_store
        store.token_index = model._class_tokens()['pos']
        maps = 0
        for step in model.timesteps:
            t = torch.full((len(labels), ), step, device=latents.device)
            store.reset()
            store.active = True
            model.unet(
                model.scheduler.add_noise(latents, noise, t),
                t,
                encoder_hidden_states=cond)
            store.active = False
            maps = maps + aggregate_maps(store, tuple(latents.shape[-2:]),
                                         model.attn_resolutions, 1)
        store.reset()
    return maps / len(model.timesteps)


def uncached(model, labels):
    """The reference: all template prompts of every image re-encoded."""
    tok = model._class_tokens()
    n_t = len(model.templates)
    with torch.no_grad():
        ids = torch.cat([
            tok['rep'][labels].flatten(0, 1),
            tok['disc'][labels].flatten(0, 1)
        ])
        emb = model.encode_text(ids).view(
            2, len(labels), n_t, -1,
            model.text_encoder.config.hidden_size).mean(2)
    r = model.test_combine_ratio
    return r * emb[0] + (1 - r) * emb[1]


def main():
    args = parse_args()
    init_default_scope('mmfg')
    torch.manual_seed(0)
    model = build(args)
    dev = args.device
    images = torch.rand(
        args.batch, 3, args.img_size, args.img_size, device=dev) * 2 - 1
    labels = torch.randint(0, args.num_classes, (args.batch, ), device=dev)

    one = model.localization_maps(images, labels)
    ref = two_calls(model, images, labels)
    err = (one - ref).abs().max().item()
    assert err < 1e-4 * max(ref.abs().max().item(), 1), err
    t_one = time_fn(lambda: model.localization_maps(images, labels), dev,
                    args.repeat)
    t_two = time_fn(lambda: two_calls(model, images, labels), dev, args.repeat)
    print(f'maps of {args.batch} images at {args.img_size} px '
          f'(max |diff| {err:.1e}): one UNet call {t_one * 1e3:.1f} ms, '
          f'two calls {t_two * 1e3:.1f} ms -> {t_two / t_one:.2f}x')

    cached = model.class_embeddings(labels)
    fresh = uncached(model, labels)
    torch.testing.assert_close(cached, fresh, atol=1e-5, rtol=1e-5)
    t_c = time_fn(lambda: model.class_embeddings(labels), dev, args.repeat)
    t_u = time_fn(lambda: uncached(model, labels), dev, args.repeat)
    print(f'text conditioning of {args.batch} images: cached '
          f'{t_c * 1e3:.2f} ms, re-encoded {t_u * 1e3:.2f} ms -> '
          f'{t_u / t_c:.1f}x')


if __name__ == '__main__':
    main()

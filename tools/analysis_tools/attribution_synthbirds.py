"""Do attributions find SynthBirds' discriminative parts? Are they faithful?

Example:
    python tools/analysis_tools/attribution_synthbirds.py \
        configs/smdl/smdl_r18_synthbirds.py CKPT --per-class 2

SynthBirds classes differ only inside known part regions (crest, beak,
wing, tail, eye ring, breast marks: ``region_mask`` of
:func:`mmfg.datasets.synth.render.render_bird`). The generator is
deterministic, so every test image's region mask is re-rendered here from
its id and resized to the model input. On the config's SLIC sub-regions
the tool compares

- SMDL's selection order, the regions ranked by mean Grad-CAM and random
  orders (``--random-orders`` seeds): *part coverage AUC* (the share of
  discriminative pixels covered by the first ``k`` regions, trapezoid over
  ``k / m``) and the coverage after 20 % of the regions;
- insertion / deletion AUC of SMDL and Grad-CAM on the same model, in
  region order (same regions, ``m`` steps) and in pixel order (``--steps``).

Prints one table (means over the images) and writes ``--out`` as JSON.
"""
import argparse
import json
import os.path as osp
import time

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmfg.apis import init_model
from mmfg.explain.attribution import (attribute_batch, curve_auc,
                                      insertion_deletion, logits_fn,
                                      region_ranks)
from mmfg.registry import DATASETS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--per-class', type=int, default=2)
    parser.add_argument('--random-orders', type=int, default=10)
    parser.add_argument('--steps', type=int, default=32)
    parser.add_argument('--layer', default='backbone.layer4')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', default=None, help='JSON output file')
    return parser.parse_args()


def region_mask_of(gen_cfg: dict, img_id: int, label: int) -> np.ndarray:
    """The discriminative region mask of a SynthBirds image (re-rendered).

    Args:
        gen_cfg (dict): the dataset's normalised ``gen_cfg``.
        img_id (int): 1-based image id.
        label (int): 0-based class.

    Returns:
        np.ndarray: ``(S, S)`` bool at the generated size.
    """
    from mmfg.datasets.synth.generator import synthbirds_gen_cfg
    from mmfg.datasets.synth.render import (attributes_from_code, render_bird,
                                            sample_scene)
    from mmfg.datasets.synth.spec import class_codes
    g = synthbirds_gen_cfg(**gen_cfg)
    codes = class_codes(g['num_classes'], g['difficulty'])
    rng = np.random.default_rng([g['seed'], img_id])
    scene = sample_scene(rng, g['image_size'], g['difficulty'])
    out = render_bird(attributes_from_code(codes[label]), scene)
    return out.region_mask > 0


def coverage(masks: torch.Tensor, order: torch.Tensor,
             part: torch.Tensor) -> torch.Tensor:
    """Share of ``part`` covered by the first ``k`` regions, ``k = 0..m``."""
    hit = (masks[order] & part).flatten(1).sum(1).float()
    cum = torch.cat([hit.new_zeros(1), hit.cumsum(0)])
    return cum / part.sum().clamp(min=1)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    model = init_model(cfg, args.checkpoint, device=args.device)
    ecfg = dict(cfg.explain_cfg)
    init_default_scope(cfg.get('default_scope', 'mmfg'))
    ds_cfg = cfg.test_dataloader.dataset
    dataset = DATASETS.build(ds_cfg)
    gen_cfg = dict(ds_cfg.get('gen_cfg', {}))
    labels = np.array(
        [int(dataset.get_data_info(i)['gt_label']) for i in
         range(len(dataset))])
    picks = np.concatenate([
        np.nonzero(labels == c)[0][:args.per_class]
        for c in np.unique(labels)
    ])
    fn = logits_fn(model)
    pre = model.data_preprocessor
    mean, std = pre.mean.flatten().tolist(), pre.std.flatten().tolist()
    rows = []
    t0 = time.time()
    for idx in picks.tolist():
        data = dataset[idx]
        batch = model.data_preprocessor(pseudo_collate([data]), False)
        x = batch['inputs']
        sample = batch['data_samples'][0]
        label = int(sample.gt_label.reshape(-1)[0])
        stem = osp.splitext(osp.basename(sample.img_path))[0]
        img_id = int(stem.rsplit('_', 1)[1])
        h, w = x.shape[-2:]
        part = cv2.resize(
            region_mask_of(gen_cfg, img_id, label).astype(np.uint8), (w, h),
            interpolation=cv2.INTER_NEAREST) > 0
        part = torch.from_numpy(part).to(x.device)
        tgt = torch.tensor([label], device=x.device)
        kw = {k: v for k, v in ecfg.items()
              if k not in ('target', 'steps', 'order', 'method')}
        ts = time.time()
        smdl = attribute_batch(model, x, tgt, 'smdl', mean=mean, std=std,
                               **kw)
        t_smdl = time.time() - ts
        masks, order = smdl['masks'][0], smdl['order'][0]
        m = masks.shape[0]
        cam = attribute_batch(model, x, tgt, 'gradcam',
                              layer=args.layer)['map']
        region_cam = (masks.float() * cam[0]).flatten(1).sum(1) / \
            masks.flatten(1).sum(1)
        cam_order = torch.argsort(-region_cam, stable=True)
        g = torch.Generator().manual_seed(idx)
        rand_orders = [
            torch.randperm(m, generator=g).to(x.device)
            for _ in range(args.random_orders)
        ]
        k20 = max(1, int(round(0.2 * m)))
        row = dict(index=idx, img_id=img_id, label=label, regions=m,
                   smdl_seconds=t_smdl)
        for name, orders in (('smdl', [order]), ('gradcam', [cam_order]),
                             ('random', rand_orders)):
            covs = torch.stack([coverage(masks, o, part) for o in orders])
            row[f'{name}_part_auc'] = float(curve_auc(covs).mean())
            row[f'{name}_part_cov20'] = float(covs[:, k20].mean())
        base = dict(baseline=ecfg.get('baseline', 'zeros'), mean=mean,
                    std=std)
        for name, orders in (('smdl', [order]), ('gradcam', [cam_order]),
                             ('random', rand_orders[:3])):
            ins, dele = [], []
            for o in orders:
                r = insertion_deletion(
                    fn, x, tgt, ranks=region_ranks(masks[o])[None],
                    num_units=m, steps=m, **base)
                ins.append(float(r['insertion_auc'][0]))
                dele.append(float(r['deletion_auc'][0]))
            row[f'{name}_region_ins'] = float(np.mean(ins))
            row[f'{name}_region_del'] = float(np.mean(dele))
        for name, amap in (('smdl', smdl['map']), ('gradcam', cam)):
            r = insertion_deletion(fn, x, tgt, maps=amap, steps=args.steps,
                                   **base)
            row[f'{name}_pixel_ins'] = float(r['insertion_auc'][0])
            row[f'{name}_pixel_del'] = float(r['deletion_auc'][0])
        rows.append(row)
        print(f'[{len(rows)}/{len(picks)}] image {img_id} m={m} '
              f'smdl {t_smdl:.1f}s part-AUC smdl '
              f'{row["smdl_part_auc"]:.3f} cam {row["gradcam_part_auc"]:.3f}'
              f' random {row["random_part_auc"]:.3f}', flush=True)
    prefixes = ('smdl_', 'gradcam_', 'random_')
    keys = [k for k in rows[0] if k.startswith(prefixes)]
    summary = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    summary['images'] = len(rows)
    summary['seconds'] = time.time() - t0
    print('\n| measure | SMDL | Grad-CAM | random order |')
    print('| --- | --- | --- | --- |')
    for meas in ('part_auc', 'part_cov20', 'region_ins', 'region_del',
                 'pixel_ins', 'pixel_del'):
        vals = [summary.get(f'{n}_{meas}') for n in ('smdl', 'gradcam',
                                                     'random')]
        print(f'| {meas} | ' + ' | '.join(
            '-' if v is None else f'{v:.3f}' for v in vals) + ' |')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(summary=summary, images=rows), f, indent=1)


if __name__ == '__main__':
    main()

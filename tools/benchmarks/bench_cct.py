"""Benchmark: overhead of the Concept-Centric Transformer head over a plain
ViT classifier, and the batched spatial-target construction against a loop.

Times forward + backward of (1) an MMPretrain ``VisionTransformer`` with a
linear head on the class token (cross-entropy) and (2) the same backbone
(``out_type='raw'``) with :class:`~mmfg.models.heads.CCTHead` and its full
loss (NLL + explanation targets from attributes and part keypoints +
sparsity), interleaved, and prints the ratio. Then times
:meth:`~mmfg.models.utils.ConceptMapping.spatial_targets` (one-hot patches
times the part-concept matrix) against a straightforward loop over images,
parts and concepts, checks they agree and prints the speed-up. Best of
``--repeats``.

Example::

    OMP_NUM_THREADS=1 python tools/benchmarks/bench_cct.py
    python tools/benchmarks/bench_cct.py --device cuda --arch deit-small \\
        --batch 64
"""
import argparse

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmfg.models.utils import build_concept_mapping
from mmfg.registry import MODELS
from mmfg.utils import register_all_modules
from mmfg.utils.benchmark import time_fns

EMBED = {'deit-tiny': 192, 'deit-small': 384, 'deit-base': 768}


def loop_spatial_targets(mapping, attrs, parts, grid, hw):
    """Reference: mark patch/concept pairs one image, part, concept at a
    time."""
    B = attrs.shape[0]
    h, w = grid
    H, W = hw
    S = mapping.num_spatial
    t = torch.zeros(B, h * w, S, device=attrs.device)
    for b in range(B):
        for s in range(S):
            if attrs[b, mapping.spatial_attributes[s]] <= 0:
                continue
            for p in mapping.spatial_parts[s]:
                x, y, vis = parts[b, p].tolist()
                col, row = int(x * w // W), int(y * h // H)
                if vis > 0 and 0 <= col < w and 0 <= row < h:
                    t[b, row * w + col, s] = 1.
    total = t.sum(-1, keepdim=True)
    return t / total.clamp_min(1e-12), total.squeeze(-1) > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--arch', default='deit-tiny', choices=list(EMBED))
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--mapping', default='cub_cbm112')
    parser.add_argument('--classes', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    register_all_modules()
    torch.manual_seed(0)
    dev, B, S = args.device, args.batch, args.size
    D = EMBED[args.arch]
    mapping = build_concept_mapping(args.mapping)
    x = torch.randn(B, 3, S, S, device=dev)
    samples = []
    for i in range(B):
        ds = DataSample(metainfo=dict(img_shape=(S, S)))
        ds.set_gt_label(i % args.classes)
        ds.set_field((torch.rand(mapping.num_attributes) < .3).float(),
                     'attributes')
        parts = torch.rand(15, 3) * S
        parts[:, 2] = (torch.rand(15) < .8).float()
        ds.set_field(parts, 'gt_parts')
        samples.append(ds.to(dev))
    backbone = dict(type='VisionTransformer', arch=args.arch, img_size=S,
                    patch_size=16)
    plain = MODELS.build(dict(
        type='ImageClassifier', backbone=backbone,
        head=dict(type='LinearClsHead', num_classes=args.classes,
                  in_channels=D))).to(dev).train()
    cct = MODELS.build(dict(
        type='ImageClassifier', backbone=dict(backbone, out_type='raw'),
        head=dict(type='CCTHead', num_classes=args.classes, in_channels=D,
                  concept_mapping=mapping, num_heads=12 if D % 12 == 0
                  else 1))).to(dev).train()
    y = torch.tensor([i % args.classes for i in range(B)], device=dev)

    def step_plain():
        F.cross_entropy(plain.head(plain.extract_feat(x)), y).backward()

    def step_cct():
        sum(cct.loss(x, samples).values()).backward()

    t_plain, t_cct = time_fns([step_plain, step_cct], dev, args.repeats,
                              reduce='min')
    print(f'{args.arch} {S}px batch {B} ({args.device}), forward+backward:')
    print(f'  ViT + linear head   {t_plain * 1e3:8.1f} ms')
    print(f'  ViT + CCT head      {t_cct * 1e3:8.1f} ms  '
          f'({mapping.num_global} global + {mapping.num_spatial} spatial '
          f'concepts, full loss)')
    print(f'  ratio CCT / plain   {t_cct / t_plain:8.2f}x')

    attrs = torch.stack([s.attributes for s in samples])
    parts = torch.stack([s.gt_parts for s in samples])
    grid = (S // 16, S // 16)
    fast = mapping.spatial_targets(attrs, parts, grid, (S, S))
    slow = loop_spatial_targets(mapping, attrs, parts, grid, (S, S))
    assert torch.equal(fast[1], slow[1]) and torch.allclose(
        fast[0], slow[0]), 'batched spatial targets != loop reference'
    t_fast, t_slow = time_fns([
        lambda: mapping.spatial_targets(attrs, parts, grid, (S, S)),
        lambda: loop_spatial_targets(mapping, attrs, parts, grid, (S, S))
    ], dev, args.repeats, reduce='min')
    print(f'  spatial targets ({B} images, {grid[0]}x{grid[1]} patches): '
          f'batched {t_fast * 1e3:.2f} ms, loop {t_slow * 1e3:.1f} ms, '
          f'speed-up {t_slow / t_fast:.0f}x')


if __name__ == '__main__':
    main()

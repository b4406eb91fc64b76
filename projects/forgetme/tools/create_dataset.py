"""Create a ForgetMe dataset (original / foreground / background / mask).

Examples::

    # any folder of images, classical GrabCut masks, Telea inpainting
    python projects/forgetme/tools/create_dataset.py IMG_DIR OUT_DIR

    # SynthBirds with its ground-truth masks as an oracle segmenter
    python projects/forgetme/tools/create_dataset.py \
        data/synthbirds/images data/forgetme_synthbirds \
        --segmenter oracle --mask-dir data/synthbirds/segmentations \
        --size 64 --limit 200
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__))))))

from projects.forgetme.forgetme.creation import (  # noqa: E402
    GrabCutSegmenter, MaskFolderSegmenter, OpenCVInpainter,
    create_forgetme_dataset, list_images)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('input_dir', help='folder of images (recursive)')
    p.add_argument('out_dir', help='output folder')
    p.add_argument('--segmenter', choices=['grabcut', 'oracle'],
                   default='grabcut',
                   help='grabcut: classical fallback; oracle: read masks '
                   'from --mask-dir')
    p.add_argument('--mask-dir', help='masks mirroring input_dir (oracle)')
    p.add_argument('--margin', type=float, default=0.1,
                   help='GrabCut: border outside the start rectangle')
    p.add_argument('--inpaint', choices=['telea', 'ns'], default='telea')
    p.add_argument('--inpaint-radius', type=int, default=3)
    p.add_argument('--feather', type=int, default=3)
    p.add_argument('--dilate', type=int, default=2)
    p.add_argument('--size', type=int, help='resize to SIZE x SIZE')
    p.add_argument('--limit', type=int,
                   help='use every k-th image so that at most LIMIT remain')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.segmenter == 'oracle':
        if not args.mask_dir:
            raise SystemExit('--segmenter oracle needs --mask-dir (e.g. '
                             'data/synthbirds/segmentations).')
        segmenter = MaskFolderSegmenter(args.mask_dir)
    else:
        segmenter = GrabCutSegmenter(margin=args.margin)
    rels = list_images(args.input_dir)
    if args.limit and len(rels) > args.limit:
        step = -(-len(rels) // args.limit)
        rels = rels[::step]
    stats = create_forgetme_dataset(
        args.input_dir, args.out_dir, segmenter,
        OpenCVInpainter(args.inpaint, args.inpaint_radius),
        feather=args.feather, dilate=args.dilate, size=args.size,
        rel_paths=rels)
    print(json.dumps(dict(out_dir=args.out_dir, **stats)))


if __name__ == '__main__':
    main()

"""Generate SynthBirds, a procedural fine-grained dataset in the CUB layout.

Examples:
    python tools/dataset_converters/generate_synthbirds.py data/synthbirds
    python tools/dataset_converters/generate_synthbirds.py data/sb_hard \\
        --num-classes 200 --images-per-class 30 --difficulty hard
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

from mmfg.datasets.synth import (DIFFICULTIES, generate_synthbirds,
                                 read_synthbirds_config)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): arguments; ``sys.argv[1:]`` if None.

    Returns:
        argparse.Namespace: the parsed arguments.
    """
    levels = '; '.join(f'{name}: {cfg.description} (<= {cfg.max_classes} '
                       'classes)' for name, cfg in DIFFICULTIES.items())
    parser = argparse.ArgumentParser(
        description='Generate SynthBirds: birds that share one body plan '
        'and differ only in small parts (crest colour, wing bars, beak '
        'shape, tail mark, eye ring, breast pattern), on cluttered '
        'backgrounds, written in the exact CUB-200-2011 layout (images, '
        'boxes, 15 part keypoints, attributes, segmentation masks). The '
        'same arguments always give byte-identical files.',
        epilog=f'Difficulties: {levels}.')
    parser.add_argument(
        'out_dir',
        help='output folder; must be new, empty or an earlier SynthBirds '
        'folder (which is replaced)')
    parser.add_argument(
        '--num-classes',
        type=int,
        default=10,
        help='number of classes (default: %(default)s)')
    parser.add_argument(
        '--images-per-class',
        type=int,
        default=60,
        help='images per class (default: %(default)s)')
    parser.add_argument(
        '--image-size',
        type=int,
        default=128,
        help='square image side in pixels, >= 32 (default: %(default)s)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of backgrounds, poses and the split (default: '
        '%(default)s)')
    parser.add_argument(
        '--difficulty',
        choices=sorted(DIFFICULTIES),
        default='easy',
        help='difficulty level (default: %(default)s)')
    parser.add_argument(
        '--train-fraction',
        type=float,
        default=0.5,
        help='fraction of each class marked train in train_test_split.txt '
        '(default: %(default)s)')
    parser.add_argument(
        '--no-masks', action='store_true', help='do not write segmentations/')
    parser.add_argument(
        '--with-meta',
        action='store_true',
        help='also write image_meta.txt: per-image location and date '
        'correlated with the class (for meta-aware models such as '
        'MetaFormer)')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Generate the dataset and print a summary.

    Args:
        argv (list[str], optional): command-line arguments.

    Returns:
        int: exit status (0 on success, 1 on a bad argument or folder).
    """
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        out = generate_synthbirds(
            args.out_dir,
            num_classes=args.num_classes,
            images_per_class=args.images_per_class,
            image_size=args.image_size,
            seed=args.seed,
            difficulty=args.difficulty,
            train_fraction=args.train_fraction,
            with_masks=not args.no_masks,
            with_meta=args.with_meta,
            progress=not args.no_progress)
    except (ValueError, TypeError, FileExistsError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    meta = read_synthbirds_config(out)
    print(f'\nSynthBirds {meta["generator_version"]} written to '
          f'{osp.abspath(out)} in {elapsed:.1f} s')
    print(f'  difficulty {args.difficulty}: {meta["num_images"]} images '
          f'({meta["num_train"]} train, {meta["num_test"]} test), '
          f'{len(meta["classes"])} classes, {args.image_size} px, '
          f'seed {args.seed}, masks {"no" if args.no_masks else "yes"}')
    for name in meta['classes'][:5]:
        print(f'  {name}')
    if len(meta['classes']) > 5:
        print(f'  ... (all classes in {osp.join(out, "classes.txt")})')
    return 0


if __name__ == '__main__':
    sys.exit(main())

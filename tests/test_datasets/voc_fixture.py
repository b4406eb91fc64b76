"""Writer of a tiny PASCAL VOC 2012 in its real layout (JPEGImages,
Annotations XML, ImageSets/Segmentation, palette SegmentationClass PNGs).
Used by the VOC dataset and WSSS tests (not a test module itself)."""
import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np
from PIL import Image

VOC_NAMES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
             'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
             'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
             'tvmonitor')


def _palette():
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal.flatten().tolist()


def write_xml(path: str, names, size=(24, 32)) -> None:
    objs = ''.join(
        f'<object><name>{n}</name><difficult>0</difficult><bndbox>'
        '<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>'
        '</object>' for n in names)
    with open(path, 'w') as f:
        f.write(f'<annotation><filename>x.jpg</filename><size><width>'
                f'{size[1]}</width><height>{size[0]}</height><depth>3</depth>'
                f'</size>{objs}</annotation>')


def write_voc(root: str, h: int = 24, w: int = 32) -> Dict[str, np.ndarray]:
    """Three images: a bird (label 3) on the left half, a cat (8) and a
    dog (12) side by side, a person (15) with a void border. Returns the
    label arrays written (id -> (h, w) uint8)."""
    for d in ('JPEGImages', 'Annotations', 'SegmentationClass',
              'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, d), exist_ok=True)
    masks = {}
    m = np.zeros((h, w), np.uint8)
    m[:, :w // 2] = 3
    masks['2007_000001'] = m
    m = np.zeros((h, w), np.uint8)
    m[4:20, 2:12] = 8
    m[4:20, 18:30] = 12
    masks['2007_000002'] = m
    m = np.full((h, w), 15, np.uint8)
    m[0, :] = 255
    m[:, :3] = 0
    masks['2008_000003'] = m
    rng = np.random.default_rng(0)
    for img_id, m in masks.items():
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(root, 'JPEGImages', f'{img_id}.jpg'), img)
        names = [VOC_NAMES[v - 1] for v in np.unique(m) if 0 < v < 255]
        write_xml(osp.join(root, 'Annotations', f'{img_id}.xml'), names,
                  (h, w))
        png = Image.fromarray(m, mode='P')
        png.putpalette(_palette())
        png.save(osp.join(root, 'SegmentationClass', f'{img_id}.png'))
    with open(osp.join(root, 'ImageSets/Segmentation/train.txt'), 'w') as f:
        f.write('\n'.join(masks) + '\n')
    return masks

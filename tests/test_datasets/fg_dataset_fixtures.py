"""Writers of tiny fine-grained datasets in their real on-disk layouts.

Used by the dataset tests (not a test module itself). Every writer returns
what it wrote so tests can compare values, not only shapes.
"""
import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np

#: CUB-200-2011 ``parts/parts.txt`` names (1-based ids).
CUB_PART_NAMES = [
    'back', 'beak', 'belly', 'breast', 'crown', 'forehead', 'left eye',
    'left leg', 'left wing', 'nape', 'right eye', 'right leg', 'right wing',
    'tail', 'throat'
]

#: NABirds ``parts/parts.txt`` names (0-based ids).
NABIRDS_PART_NAMES = [
    'bill', 'crown', 'nape', 'left eye', 'right eye', 'belly', 'breast',
    'back', 'tail', 'left wing', 'right wing'
]


def write_image(path: str, value: int = 0, size: int = 8) -> None:
    """Write a tiny BGR JPEG (or PNG) filled with ``value``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.full((size, size, 3), value % 256, dtype=np.uint8)
    assert cv2.imwrite(path, img), path


def write_lines(path: str, lines: List[str]) -> None:
    """Write ``lines`` (newline-terminated) to ``path``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(''.join(line + '\n' for line in lines))


def cub_box(img_id: int) -> List[float]:
    """The ``x y w h`` box written for image ``img_id``."""
    return [float(img_id), 2.0 * img_id, 10.5, 5.0]


def cub_part(img_id: int, part_id: int) -> List[float]:
    """The ``x y visible`` written for a part (invisible when
    ``(img_id + part_id) % 3 == 0``; invisible rows carry junk coordinates
    to check that the dataset zeroes them)."""
    visible = 0 if (img_id + part_id) % 3 == 0 else 1
    return [img_id + 0.5 * part_id, 100.0 - part_id, float(visible)]


def write_cub(root: str,
              num_classes: int = 4,
              per_class: int = 6,
              num_train: int = 4,
              num_attributes: int = 5,
              attributes_up: bool = True,
              images: bool = True,
              masks: bool = True,
              text: bool = True) -> Dict:
    """Write a tiny CUB-200-2011 in the original layout.

    Images are numbered class by class (ids 1..C*per_class); the first
    ``num_train`` images of each class are official training images.
    Attributes: image ``i`` has attribute ``a`` present iff ``(i + a)`` is
    even, certainty ``1 + (i + a) % 4``; the row of (image 2, attribute 3)
    is omitted, and the row of (image 1, attribute 2) has the extra sixth
    field found in the real file.

    Args:
        root (str): the CUB_200_2011 folder to create.
        num_classes (int): classes.
        per_class (int): images per class.
        num_train (int): official training images per class.
        num_attributes (int): attributes.
        attributes_up (bool): put ``attributes.txt`` in ``root/..`` as the
            original archive does (else in ``root/attributes``).
        images (bool): write image files.
        masks (bool): write ``segmentations/``.
        text (bool): write ``text/``.

    Returns:
        dict: ``ids`` (per class), ``paths`` (id -> relative path),
        ``label`` (id -> 0-based label), ``is_train``, ``class_names``.
    """
    info = dict(ids={}, paths={}, label={}, is_train={}, class_names=[])
    images_txt, labels_txt, split_txt, boxes_txt, classes_txt = \
        [], [], [], [], []
    img_id = 0
    for c in range(1, num_classes + 1):
        folder = f'{c:03d}.Bird_{c}'
        classes_txt.append(f'{c} {folder}')
        info['class_names'].append(f'Bird_{c}')
        info['ids'][c - 1] = []
        for k in range(per_class):
            img_id += 1
            rel = f'{folder}/Bird_{c}_{k:04d}.jpg'
            images_txt.append(f'{img_id} {rel}')
            labels_txt.append(f'{img_id} {c}')
            is_train = int(k < num_train)
            split_txt.append(f'{img_id} {is_train}')
            boxes_txt.append(f'{img_id} ' +
                             ' '.join(str(v) for v in cub_box(img_id)))
            info['ids'][c - 1].append(img_id)
            info['paths'][img_id] = rel
            info['label'][img_id] = c - 1
            info['is_train'][img_id] = is_train
            if images:
                write_image(osp.join(root, 'images', rel), img_id)
            if masks:
                write_image(
                    osp.join(root, 'segmentations', rel[:-4] + '.png'), 255)
            if text:
                write_lines(
                    osp.join(root, 'text', rel[:-4] + '.txt'),
                    [f'a bird number {img_id}.', '', 'it has a beak.'])
    num_images = img_id
    write_lines(osp.join(root, 'images.txt'), images_txt)
    write_lines(osp.join(root, 'image_class_labels.txt'), labels_txt)
    write_lines(osp.join(root, 'train_test_split.txt'), split_txt)
    write_lines(osp.join(root, 'classes.txt'), classes_txt)
    write_lines(osp.join(root, 'bounding_boxes.txt'), boxes_txt)
    write_lines(
        osp.join(root, 'parts', 'parts.txt'),
        [f'{i} {name}' for i, name in enumerate(CUB_PART_NAMES, 1)])
    locs = []
    for i in range(1, num_images + 1):
        for p in range(1, len(CUB_PART_NAMES) + 1):
            x, y, v = cub_part(i, p)
            locs.append(f'{i} {p} {x} {y} {int(v)}')
    write_lines(osp.join(root, 'parts', 'part_locs.txt'), locs)

    attr_names = [
        f'{a} has_part_{a}::value_{a}' for a in range(1, num_attributes + 1)
    ]
    attr_dir = osp.dirname(root) if attributes_up else osp.join(
        root, 'attributes')
    write_lines(osp.join(attr_dir, 'attributes.txt'), attr_names)
    rows = []
    for i in range(1, num_images + 1):
        for a in range(1, num_attributes + 1):
            if (i, a) == (2, 3):
                continue
            present = int((i + a) % 2 == 0)
            cert = 1 + (i + a) % 4
            line = f'{i} {a} {present} {cert} 12.5'
            if (i, a) == (1, 2):
                line = f'{i} {a} {present} {cert} 0 3.5'
            rows.append(line)
    write_lines(
        osp.join(root, 'attributes', 'image_attribute_labels.txt'), rows)
    write_lines(
        osp.join(root, 'attributes', 'class_attribute_labels_continuous.txt'),
        [
            ' '.join(f'{10.0 * c + a:.4f}' for a in range(num_attributes))
            for c in range(num_classes)
        ])
    return info


def cub_attribute(img_id: int, attr_id: int):
    """Expected (presence, certainty) of the :func:`write_cub` fixture."""
    if (img_id, attr_id) == (2, 3):
        return 0.0, 0
    return float((img_id + attr_id) % 2 == 0), 1 + (img_id + attr_id) % 4


def replace_line(path: str, lineno: int, new: str) -> None:
    """Replace the 1-based line ``lineno`` of ``path`` (None: delete)."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    if new is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = new
    write_lines(path, lines)


def append_line(path: str, line: str) -> None:
    """Append one line to ``path``."""
    with open(path, 'a', encoding='utf-8') as f:
        f.write(line + '\n')


#: NABirds fixture taxonomy: id -> (name, parent id or None).
NABIRDS_CLASSES = {
    0: ('Birds', None),
    1: ('Perching Birds', 0),
    2: ('Hawks and Eagles', 0),
    295: ('Sharp-shinned Hawk (Adult)', 2),
    298: ('Red-tailed Hawk', 2),
    313: ('American Robin', 1),
    400: ('Never Photographed', 1),
}


def nabirds_uuid(n: int) -> str:
    """A UUID-style NABirds image id."""
    return f'{n:08x}-21dc-4d0c-bfe1-4cae3c85c829'


def write_nabirds(root: str, per_class: int = 4, num_train: int = 3) -> Dict:
    """Write a tiny NABirds (sparse, hierarchical class ids, UUID ids).

    Leaf classes 295, 298 and 313 have ``per_class`` images each (the first
    ``num_train`` are training images); class 400 has none.

    Returns:
        dict: ``uuids`` in ``images.txt`` order, ``class_of`` (uuid -> class
        id), ``is_train`` (uuid -> 0/1), ``box`` (uuid -> x y w h).
    """
    info = dict(uuids=[], class_of={}, is_train={}, box={})
    images, labels, split, boxes, locs = [], [], [], [], []
    n = 0
    for cid in (295, 298, 313):
        for k in range(per_class):
            n += 1
            uuid = nabirds_uuid(n)
            rel = f'{cid:04d}/{uuid.replace("-", "")}.jpg'
            images.append(f'{uuid} {rel}')
            labels.append(f'{uuid} {cid}')
            split.append(f'{uuid} {int(k < num_train)}')
            box = [n, n + 1, 20, 30]
            boxes.append(f'{uuid} ' + ' '.join(map(str, box)))
            for p in range(len(NABIRDS_PART_NAMES)):
                visible = int((n + p) % 2 == 0)
                locs.append(f'{uuid} {p} {(10 + p) * visible} '
                            f'{(20 + n) * visible} {visible}')
            info['uuids'].append(uuid)
            info['class_of'][uuid] = cid
            info['is_train'][uuid] = int(k < num_train)
            info['box'][uuid] = box
            write_image(osp.join(root, 'images', rel), n)
    write_lines(osp.join(root, 'images.txt'), images)
    write_lines(osp.join(root, 'image_class_labels.txt'), labels)
    write_lines(osp.join(root, 'train_test_split.txt'), split)
    write_lines(osp.join(root, 'bounding_boxes.txt'), boxes)
    write_lines(
        osp.join(root, 'classes.txt'),
        [f'{c} {name}' for c, (name, _) in NABIRDS_CLASSES.items()])
    write_lines(
        osp.join(root, 'hierarchy.txt'), [
            f'{c} {parent}'
            for c, (_, parent) in NABIRDS_CLASSES.items() if parent is not None
        ])
    write_lines(
        osp.join(root, 'parts', 'parts.txt'),
        [f'{i} {name}' for i, name in enumerate(NABIRDS_PART_NAMES)])
    write_lines(osp.join(root, 'parts', 'part_locs.txt'), locs)
    return info

"""PASCAL VOC 2012 with image-level labels, for weakly supervised semantic
segmentation (WSSS): the classifier trains on the labels, the pseudo masks
it produces are scored against the segmentation masks."""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import MultiLabelDataset

from mmfg.registry import DATASETS
from mmfg.utils.errors import (AnnotationError, ConfigError,
                               DatasetNotFoundError)
from .utils import check_dataset_kwargs, read_nonempty_lines, require_path

__all__ = ['PascalVOC2012', 'VOC_CLASSES', 'read_label_png']

#: The 20 object classes in the official order (segmentation label i + 1;
#: label 0 is background, 255 is the void border).
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
               'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')

_HOW_TO_GET = (
    'Download VOCtrainval_11-May-2012.tar from '
    'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ and point data_root at '
    'VOCdevkit/VOC2012 (for train_aug, add SBD\'s SegmentationClassAug and '
    'ImageSets/Segmentation/train_aug.txt).')


def read_label_png(path: str) -> np.ndarray:
    """Read a segmentation label PNG as class indices.

    VOC's ``SegmentationClass`` PNGs are palette images whose *indices* are
    the labels (a grey-scale decode would return luminances); the
    ``SegmentationClassAug`` PNGs are grey-scale labels. Both decode here
    to the stored indices.

    Args:
        path (str): the PNG.

    Returns:
        np.ndarray: uint8 ``(H, W)`` labels (0 background, 1..20, 255 void).
    """
    from PIL import Image
    require_path(path, 'PASCAL VOC 2012', _HOW_TO_GET)
    try:
        with Image.open(path) as im:
            if im.mode not in ('P', 'L'):
                raise AnnotationError(
                    path, None, f'label PNG has mode {im.mode}; expected a '
                    'palette (P) or grey-scale (L) image of class indices.')
            return np.array(im, dtype=np.uint8)
    except OSError as e:
        raise AnnotationError(path, None,
                              f'cannot decode the label PNG ({e}).') from None


@DATASETS.register_module()
class PascalVOC2012(MultiLabelDataset):
    """PASCAL VOC 2012 images with image-level (multi-label) labels.

    Official layout (``data_root`` = ``VOCdevkit/VOC2012``)::

        JPEGImages/<id>.jpg
        Annotations/<id>.xml                  (object names -> labels)
        ImageSets/Segmentation/<split>.txt    (train, val, trainval; SBD's
                                               train_aug)
        SegmentationClass/<id>.png            (palette label PNGs) and/or
        SegmentationClassAug/<id>.png         (SBD, grey-scale labels)

    Keys of ``get_data_info``: ``img_path``, ``img_id`` (the VOC id, a
    string), ``gt_label`` (sorted 0-based indices into :data:`VOC_CLASSES`)
    and, when the image has a mask, ``seg_map_path`` (MMSegmentation's key;
    read it with :func:`read_label_png`).

    Args:
        data_root (str): the ``VOC2012`` folder.
        split (str): id list ``ImageSets/Segmentation/{split}.txt``.
            Defaults to ``'train'``.
        label_source (str): ``'xml'`` (every ``<object>`` of the image's
            annotation, as the WSSS literature) or ``'mask'`` (the classes
            present in the segmentation mask). Defaults to ``'xml'``.
        mask_prefix (str, optional): mask folder; None picks
            ``SegmentationClassAug`` if it exists, else
            ``SegmentationClass``.
        require_mask (bool): every image must have a mask (for evaluating
            pseudo masks). Defaults to False.
        **kwargs: MMPretrain ``BaseDataset`` arguments (``pipeline``, ...).
    """

    METAINFO = dict(classes=VOC_CLASSES)
    #: Arguments set by the class itself -> why (see check_dataset_kwargs).
    FIXED_KWARGS = dict(
        ann_file='the id list is ImageSets/Segmentation/<split>.txt; choose '
        'it with split.',
        data_prefix='images are read from JPEGImages.')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 label_source: str = 'xml',
                 mask_prefix: Optional[str] = None,
                 require_mask: bool = False,
                 **kwargs) -> None:
        check_dataset_kwargs(self, kwargs, MultiLabelDataset.__init__)
        if label_source not in ('xml', 'mask'):
            raise ConfigError("PascalVOC2012: label_source must be 'xml' or "
                              f"'mask', got {label_source!r}.")
        data_root = osp.abspath(osp.expanduser(str(data_root)))
        require_path(data_root, 'PASCAL VOC 2012', _HOW_TO_GET)
        if mask_prefix is None:
            aug = osp.join(data_root, 'SegmentationClassAug')
            mask_prefix = ('SegmentationClassAug'
                           if osp.isdir(aug) else 'SegmentationClass')
        self.split = split
        self.label_source = label_source
        self.mask_prefix = mask_prefix
        self.require_mask = require_mask
        ann_file = osp.join('ImageSets', 'Segmentation', f'{split}.txt')
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=dict(img_path='JPEGImages'),
            **kwargs)

    def _labels_from_xml(self, path: str) -> List[int]:
        require_path(path, 'PASCAL VOC 2012', _HOW_TO_GET)
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            raise AnnotationError(
                path, e.position[0], f'malformed XML ({e}). Restore it from '
                'the VOC archive.') from None
        labels = set()
        for obj in root.iter('object'):
            node = obj.find('name')
            name = node.text.strip() if node is not None and node.text else ''
            if name not in VOC_CLASSES:
                raise AnnotationError(
                    path, None, f'unknown object name "{name}"; expected one '
                    f'of the 20 VOC classes {list(VOC_CLASSES)}.')
            labels.add(VOC_CLASSES.index(name))
        return sorted(labels)

    @staticmethod
    def _labels_from_mask(path: str) -> List[int]:
        values = np.unique(read_label_png(path))
        bad = values[(values > len(VOC_CLASSES)) & (values != 255)]
        if len(bad):
            raise AnnotationError(
                path, None, f'label values {bad.tolist()} are not VOC '
                'labels (0 background, 1..20 classes, 255 void).')
        return [int(v) - 1 for v in values if 0 < v <= len(VOC_CLASSES)]

    def load_data_list(self) -> List[dict]:
        """One dict per id of the split file.

        Returns:
            list[dict]: samples (see the class docstring).

        Raises:
            DatasetNotFoundError: the split file, an image or a required
                mask is missing.
            AnnotationError: a malformed XML / mask, an image without any
                object class, an empty split file or an id listed twice.
        """
        ann = self.ann_file
        lines = read_nonempty_lines(
            ann,
            dataset='PASCAL VOC 2012',
            how_to_get=f'(split {self.split!r}) ' + _HOW_TO_GET)
        if not lines:
            raise AnnotationError(
                ann, None, 'lists no image id. Restore it from the VOC '
                'archive or choose another split.')
        img_dir = self.data_prefix['img_path']
        data_list = []
        first_line = {}
        for lineno, line in lines:
            img_id = line.split()[0]
            if img_id in first_line:
                raise AnnotationError(
                    ann, lineno, f'duplicate image id "{img_id}" (first on '
                    f'line {first_line[img_id]}); remove one of the lines.')
            first_line[img_id] = lineno
            img_path = osp.join(img_dir, f'{img_id}.jpg')
            mask_path = osp.join(self.data_root, self.mask_prefix,
                                 f'{img_id}.png')
            has_mask = osp.exists(mask_path)
            if self.require_mask and not has_mask:
                raise DatasetNotFoundError(
                    mask_path, 'PASCAL VOC 2012',
                    f'(listed in {ann}, line {lineno}; require_mask=True) ' +
                    _HOW_TO_GET)
            if self.label_source == 'xml':
                labels = self._labels_from_xml(
                    osp.join(self.data_root, 'Annotations', f'{img_id}.xml'))
            else:
                labels = self._labels_from_mask(
                    require_path(mask_path, 'PASCAL VOC 2012', _HOW_TO_GET))
            if not labels:
                raise AnnotationError(
                    ann, lineno, f'image "{img_id}" has no object class '
                    f'({self.label_source}); image-level training needs at '
                    'least one. Remove the id from the split file.')
            info = dict(img_path=img_path, img_id=img_id, gt_label=labels)
            if has_mask:
                info['seg_map_path'] = mask_path
            data_list.append(info)
        return data_list

    @property
    def ids(self) -> Sequence[str]:
        """The VOC ids in dataset order."""
        return [self.get_data_info(i)['img_id'] for i in range(len(self))]

"""NABirds (Van Horn et al., CVPR 2015)."""
from typing import Any, Dict, Hashable, List, Optional

from mmfg.registry import DATASETS
from mmfg.utils.errors import AnnotationError
from .cub_style import CUBStyleDataset
from .utils import KeyedRows


@DATASETS.register_module()
class NABirds(CUBStyleDataset):
    """The NABirds dataset (555 visual categories of North American birds).

    The release uses the CUB-200-2011 text layout (see
    :class:`CUBStyleDataset`) with three differences handled here:

    - image ids are UUID strings (``0000139e-21dc-4d0c-bfe1-4cae3c85c829``);
      ``img_id`` is the 1-based position of the image in ``images.txt`` and
      the UUID is kept as ``img_uuid``;
    - class ids are sparse and hierarchical: ``classes.txt`` lists every
      node of the taxonomy, images are labelled with leaf ids. Labels
      ``0..C-1`` are assigned to the classes that have images, in increasing
      id order; ``metainfo['class_ids']`` keeps the original ids;
    - ``hierarchy.txt`` (``<child_id> <parent_id>``) gives
      :attr:`hierarchy` (child id -> parent id) and :attr:`ancestors`
      (class id -> ancestor ids, nearest first).

    Parts (``parts/parts.txt``, 11 parts, ids from 0) and boxes are read as
    for CUB; ``part_flip_pairs`` pairs left/right eye and wing. There is no
    official validation set: ``val`` is held out of the official training set
    (see :class:`~mmfg.datasets.base.FineGrainedDataset`).

    Keys of ``get_data_info``: ``img_path``, ``img_id``, ``img_uuid``,
    ``gt_label``, ``gt_bboxes`` float32 ``(1, 4)``, ``gt_parts`` float32
    ``(11, 3)``, ``part_flip_pairs``.

    Args:
        data_root (str): the ``nabirds`` folder (contains ``images.txt``).
        split (str, optional): ``'train'``, ``'val'``, ``'trainval'``,
            ``'test'`` or ``'all'``. Defaults to None: ``'train'``, or
            ``'all'`` when ``class_split`` is set.
        with_bbox (bool): load boxes. Defaults to True.
        with_parts (bool): load part keypoints. Defaults to True.
        data_prefix (str | dict): image folder. Defaults to ``'images'``.
        **kwargs: :class:`~mmfg.datasets.base.FineGrainedDataset` arguments
            (``class_split``, ``val_ratio``, ``val_seed``, ``pipeline``,
            ``test_mode``, ``lazy_init``, ...).
    """

    DATASET_NAME = 'NABirds'
    HOW_TO_GET = ('Request and download nabirds.tar.gz from '
                  'https://dl.allaboutbirds.org/nabirds and extract it; '
                  'data_root is the folder that contains images.txt.')
    ID_TYPE = str

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 with_bbox: bool = True,
                 with_parts: bool = True,
                 data_prefix: Any = 'images',
                 **kwargs):
        self.hierarchy: Dict[int, int] = {}
        self.ancestors: Dict[int, List[int]] = {}
        super().__init__(
            data_root=data_root,
            split=split,
            with_bbox=with_bbox,
            with_parts=with_parts,
            data_prefix=data_prefix,
            **kwargs)

    def _select_class_ids(self, classes: KeyedRows) -> List[int]:
        labels = self._read_image_labels()
        path = self._path('image_class_labels.txt')
        used = set()
        for lineno, (class_id, ) in labels.values():
            if class_id not in classes:
                raise AnnotationError(
                    path, lineno, f'class id {class_id} is not listed in '
                    f'"{self._path("classes.txt")}".')
            used.add(class_id)
        return sorted(used)

    def _load_meta(self) -> Dict[str, Any]:
        meta = super()._load_meta()
        self._load_hierarchy(set(self._read_classes()))
        return meta

    def _load_hierarchy(self, class_ids: set) -> None:
        """Fill :attr:`hierarchy` and :attr:`ancestors` from hierarchy.txt."""
        path = self._path('hierarchy.txt')
        parents = self._read_keyed('hierarchy.txt', [('child_id', int),
                                                     ('parent_id', int)])
        for child, (lineno, (parent, )) in parents.items():
            for role, cid in (('child', child), ('parent', parent)):
                if cid not in class_ids:
                    raise AnnotationError(
                        path, lineno, f'{role} id {cid} is not listed in '
                        f'"{self._path("classes.txt")}".')
        self.hierarchy = {c: p for c, (_, (p, )) in parents.items()}
        ancestors = {}
        for cid in sorted(class_ids):
            chain, node = [], cid
            while node in self.hierarchy:
                node = self.hierarchy[node]
                if node == cid or node in chain:
                    raise AnnotationError(
                        path, parents[cid][0],
                        f'the hierarchy has a cycle through class {cid}.')
                chain.append(node)
            ancestors[cid] = chain
        self.ancestors = ancestors

    def _image_id_fields(self, key: Hashable, ordinal: int) -> dict:
        return dict(img_id=ordinal + 1, img_uuid=key)

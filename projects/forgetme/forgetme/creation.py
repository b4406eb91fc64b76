"""ForgetMe dataset creation: segment, feather, inpaint, write four folders.

For each input image a :class:`Segmenter` proposes the object mask (region
to forget), :func:`feather_mask` softens its border, an :class:`Inpainter`
fills the (feathered) object region from its surroundings, and
:func:`create_forgetme_dataset` writes::

    out_dir/original/<name>.png     the input image
    out_dir/foreground/<name>.png   image * alpha (object on black)
    out_dir/background/<name>.png   the inpainted image (object removed)
    out_dir/mask/<name>.png         alpha in 0..255 (>= 128: forget region)

Segmenters and inpainters are registered in ``TASK_UTILS`` so the tool and
configs pick them by name: :class:`GrabCutSegmenter` (classical fallback,
OpenCV GrabCut from a centred rectangle), :class:`MaskFolderSegmenter`
(ready masks, e.g. SynthBirds' or CUB's segmentations: an "oracle") and
:class:`OpenCVInpainter` (Telea / Navier-Stokes). A learned segmenter (SAM,
a saliency net) or inpainter (LaMa, SD-inpainting) plugs in by subclassing.
"""
import os
import os.path as osp
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from mmfg.registry import TASK_UTILS
from mmfg.utils.errors import CorruptImageError, DatasetNotFoundError

__all__ = [
    'Segmenter', 'GrabCutSegmenter', 'MaskFolderSegmenter', 'Inpainter',
    'OpenCVInpainter', 'feather_mask', 'create_forgetme_dataset',
    'FOLDERS', 'IMG_EXTS'
]

FOLDERS = ('original', 'foreground', 'background', 'mask')
IMG_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp')


def read_rgb(path: str) -> np.ndarray:
    """Read an image as RGB uint8 ``(H, W, 3)`` (clear error if unreadable).
    """
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise CorruptImageError(path, 'OpenCV cannot decode it')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class Segmenter(metaclass=ABCMeta):
    """Interface: the mask of the object to forget in one image."""

    @abstractmethod
    def __call__(self, img: np.ndarray, rel_path: str) -> np.ndarray:
        """Segment one image.

        Args:
            img (np.ndarray): RGB uint8 ``(H, W, 3)``.
            rel_path (str): the image path relative to the input folder
                (lets oracle segmenters find their mask).

        Returns:
            np.ndarray: bool ``(H, W)``, True on the object.
        """


@TASK_UTILS.register_module()
class GrabCutSegmenter(Segmenter):
    """Classical fallback: OpenCV GrabCut started from a centred rectangle.

    The object is assumed to lie inside the rectangle that leaves
    ``margin`` of the width/height on each side (true for object-centric
    photos such as CUB or SynthBirds); GrabCut's colour models separate it
    from the rest. The largest connected component is kept; if GrabCut
    finds nothing, the rectangle itself is returned.

    Args:
        margin (float): border fraction outside the start rectangle.
            Defaults to 0.1.
        iters (int): GrabCut iterations. Defaults to 5.
        seed (int): OpenCV RNG seed (GrabCut's GMM initialisation).
            Defaults to 0.
    """

    def __init__(self, margin: float = 0.1, iters: int = 5,
                 seed: int = 0) -> None:
        if not 0 <= margin < 0.5:
            raise ValueError(f'margin must be in [0, 0.5), got {margin}.')
        self.margin = margin
        self.iters = iters
        self.seed = seed

    def __call__(self, img: np.ndarray, rel_path: str = '') -> np.ndarray:
        h, w = img.shape[:2]
        x0, y0 = int(round(w * self.margin)), int(round(h * self.margin))
        rect = (x0, y0, max(1, w - 2 * x0), max(1, h - 2 * y0))
        mask = np.zeros((h, w), np.uint8)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(self.seed)
        cv2.grabCut(
            cv2.cvtColor(img, cv2.COLOR_RGB2BGR), mask, rect, bgd, fgd,
            self.iters, cv2.GC_INIT_WITH_RECT)
        fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, 8)
        if n <= 1:
            out = np.zeros((h, w), bool)
            out[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]] = True
            return out
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        return labels == largest


@TASK_UTILS.register_module()
class MaskFolderSegmenter(Segmenter):
    """Read ready-made masks: ``mask_dir/<rel_path with suffix>``.

    For SynthBirds (or CUB with its segmentations) this is an oracle:
    ``mask_dir = <data_root>/segmentations``, ``suffix = '.png'``.

    Args:
        mask_dir (str): the mask folder, mirroring the image folder.
        suffix (str): mask file extension. Defaults to ``'.png'``.
        thresh (int): grey level above which a pixel is the object.
            Defaults to 127.
    """

    def __init__(self, mask_dir: str, suffix: str = '.png',
                 thresh: int = 127) -> None:
        if not osp.isdir(mask_dir):
            raise DatasetNotFoundError(
                mask_dir, 'MaskFolderSegmenter',
                'Point mask_dir at the folder of masks that mirrors the '
                'image folder (SynthBirds/CUB: <data_root>/segmentations).')
        self.mask_dir = mask_dir
        self.suffix = suffix
        self.thresh = thresh

    def __call__(self, img: np.ndarray, rel_path: str) -> np.ndarray:
        path = osp.join(self.mask_dir, osp.splitext(rel_path)[0] + self.suffix)
        if not osp.isfile(path):
            raise DatasetNotFoundError(
                path, 'MaskFolderSegmenter',
                f'No mask for image "{rel_path}"; masks must mirror the image '
                'paths.')
        mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise CorruptImageError(path, 'OpenCV cannot decode the mask')
        if mask.shape != img.shape[:2]:
            raise ValueError(
                f'MaskFolderSegmenter: mask "{path}" is {mask.shape} but the '
                f'image is {img.shape[:2]}.')
        return mask > self.thresh


class Inpainter(metaclass=ABCMeta):
    """Interface: fill a region of an image from its surroundings."""

    @abstractmethod
    def __call__(self, img: np.ndarray, region: np.ndarray) -> np.ndarray:
        """Inpaint.

        Args:
            img (np.ndarray): RGB uint8 ``(H, W, 3)``.
            region (np.ndarray): bool ``(H, W)``, True where to fill.

        Returns:
            np.ndarray: RGB uint8 ``(H, W, 3)``, equal to ``img`` outside
            ``region``.
        """


@TASK_UTILS.register_module()
class OpenCVInpainter(Inpainter):
    """OpenCV inpainting (Telea's fast marching or Navier-Stokes).

    Args:
        method (str): ``'telea'`` or ``'ns'``. Defaults to ``'telea'``.
        radius (int): neighbourhood radius in pixels. Defaults to 3.
    """

    _FLAGS = {'telea': cv2.INPAINT_TELEA, 'ns': cv2.INPAINT_NS}

    def __init__(self, method: str = 'telea', radius: int = 3) -> None:
        if method not in self._FLAGS:
            raise ValueError(f'OpenCVInpainter: method must be one of '
                             f'{sorted(self._FLAGS)}, got {method!r}.')
        self.method = method
        self.radius = radius

    def __call__(self, img: np.ndarray, region: np.ndarray) -> np.ndarray:
        out = cv2.inpaint(img, region.astype(np.uint8), self.radius,
                          self._FLAGS[self.method])
        out[~region] = img[~region]
        return out


def feather_mask(mask: np.ndarray, feather: int = 3,
                 dilate: int = 2) -> np.ndarray:
    """Soften a binary mask into an alpha matte.

    The mask is dilated by ``dilate`` pixels (so the object's anti-aliased
    border falls inside), then blurred with a Gaussian of kernel
    ``2 * feather + 1``.

    Args:
        mask (np.ndarray): bool ``(H, W)``.
        feather (int): blur radius in pixels (0: no blur). Defaults to 3.
        dilate (int): dilation radius in pixels. Defaults to 2.

    Returns:
        np.ndarray: float32 ``(H, W)`` alpha in ``[0, 1]``.
    """
    m = mask.astype(np.uint8)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                      (2 * dilate + 1, 2 * dilate + 1))
        m = cv2.dilate(m, k)
    alpha = m.astype(np.float32)
    if feather > 0:
        alpha = cv2.GaussianBlur(alpha, (2 * feather + 1, 2 * feather + 1), 0)
    return np.clip(alpha, 0., 1.)


def list_images(input_dir: str) -> List[str]:
    """Image paths under ``input_dir`` (recursive), relative, sorted."""
    if not osp.isdir(input_dir):
        raise DatasetNotFoundError(input_dir, 'ForgetMe creation',
                                   'Give a folder of images.')
    rels = []
    for root, _, files in os.walk(input_dir):
        for f in files:
            if f.lower().endswith(IMG_EXTS):
                rels.append(osp.relpath(osp.join(root, f), input_dir))
    if not rels:
        raise DatasetNotFoundError(
            input_dir, 'ForgetMe creation',
            f'The folder holds no images ({", ".join(IMG_EXTS)}).')
    return sorted(rels)


def create_forgetme_dataset(input_dir: str,
                            out_dir: str,
                            segmenter: Segmenter,
                            inpainter: Inpainter,
                            feather: int = 3,
                            dilate: int = 2,
                            size: Optional[int] = None,
                            rel_paths: Optional[Sequence[str]] = None
                            ) -> Dict[str, int]:
    """Write the original / foreground / background / mask folders.

    Output names are the image file stems (``.png``); two inputs with the
    same stem in different sub-folders are an error.

    Args:
        input_dir (str): folder of input images (searched recursively).
        out_dir (str): output folder (created).
        segmenter (Segmenter): object-mask proposer.
        inpainter (Inpainter): background filler.
        feather (int): see :func:`feather_mask`. Defaults to 3.
        dilate (int): see :func:`feather_mask`. Defaults to 2.
        size (int, optional): resize images (and masks) to ``size x size``
            after segmenting. Defaults to None (keep).
        rel_paths (Sequence[str], optional): the images to use, relative
            to ``input_dir``. Defaults to all of them.

    Returns:
        dict: ``num_images`` and ``mean_mask_permille`` (forget-region share).
    """
    rels = list(rel_paths) if rel_paths is not None else list_images(
        input_dir)
    stems: Dict[str, str] = {}
    for rel in rels:
        stem = osp.splitext(osp.basename(rel))[0]
        if stem in stems:
            raise ValueError(
                f'ForgetMe creation: "{rel}" and "{stems[stem]}" have the '
                'same file name; output names must be unique. Rename one.')
        stems[stem] = rel
    for sub in FOLDERS:
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    fractions = []
    for stem, rel in stems.items():
        img = read_rgb(osp.join(input_dir, rel))
        obj = segmenter(img, rel)
        if size is not None:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            obj = cv2.resize(obj.astype(np.uint8), (size, size),
                             interpolation=cv2.INTER_NEAREST).astype(bool)
        alpha = feather_mask(obj, feather, dilate)
        background = inpainter(img, alpha > 0)
        foreground = (img.astype(np.float32) * alpha[..., None]).round()
        mask8 = (alpha * 255).round().astype(np.uint8)
        fractions.append(float((mask8 >= 128).mean()))
        for sub, arr in zip(FOLDERS, (img, foreground.astype(np.uint8),
                                      background)):
            cv2.imwrite(osp.join(out_dir, sub, stem + '.png'),
                        cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
        cv2.imwrite(osp.join(out_dir, 'mask', stem + '.png'), mask8)
    return dict(
        num_images=len(stems),
        mean_mask_permille=int(round(1000 * float(np.mean(fractions)))))

"""Loading transforms: images (corruption-aware) and segmentation masks."""
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmengine.logging import MMLogger

from mmfg.registry import TRANSFORMS
from mmfg.utils.errors import AnnotationError, CorruptImageError
from .geometry import warp_mask

__all__ = ['LoadImageFromFile', 'LoadMask']


def _read_bytes(path: str,
                backend_args: Optional[dict],
                file_client_args: Optional[dict] = None) -> bytes:
    """Read a file through MMEngine's file backends (as mmcv does)."""
    if file_client_args is not None:
        client = fileio.FileClient.infer_client(file_client_args, path)
        return client.get(path)
    return fileio.get(path, backend_args=backend_args)


def _corrupt(path: str, reason: str) -> CorruptImageError:
    """A :class:`CorruptImageError` that also keeps its short ``reason``."""
    err = CorruptImageError(path, reason)
    err.reason = reason
    return err


def _decode(path: str,
            flag: str,
            backend: str,
            backend_args: Optional[dict],
            file_client_args: Optional[dict] = None) -> np.ndarray:
    """Read and decode an image, or raise :class:`CorruptImageError`.

    Args:
        path (str): image file.
        flag (str): ``mmcv.imfrombytes`` flag (``'color'``, ``'grayscale'``,
            ``'unchanged'``, ...).
        backend (str): decoding backend of ``mmcv.imfrombytes``.
        backend_args (dict, optional): MMEngine file backend arguments.
        file_client_args (dict, optional): deprecated FileClient arguments.

    Returns:
        np.ndarray: the decoded image.

    Raises:
        CorruptImageError: the file is missing, empty, truncated or not an
            image.
    """
    try:
        data = _read_bytes(path, backend_args, file_client_args)
    except FileNotFoundError as e:
        raise _corrupt(path, 'file not found') from e
    except Exception as e:  # permissions, directories, remote I/O errors
        raise _corrupt(path, f'cannot read file ({e})') from e
    if not data:
        raise _corrupt(path, 'file is empty')
    try:
        img = mmcv.imfrombytes(data, flag=flag, backend=backend)
    except Exception as e:  # PIL/turbojpeg decoders raise on bad data
        raise _corrupt(path, f'cannot decode ({e})') from e
    if img is None or img.size == 0:
        raise _corrupt(path, 'cannot decode (truncated or not an image)')
    return img


@TRANSFORMS.register_module()
class LoadImageFromFile(_MMCVLoadImageFromFile):
    """Load an image; unreadable files raise or are skipped and counted.

    A superset of :class:`mmcv.transforms.LoadImageFromFile`: same arguments
    and the same image; it also starts the geometry record.

    **Required Keys:** ``img_path``.

    **Added Keys:** ``img`` (``(H, W, 3)`` BGR uint8 by default),
    ``ori_shape`` and ``img_shape`` (``(H, W)``), ``trans_mat``
    (float64 ``(3, 3)`` identity).

    A missing, empty, truncated or undecodable file raises
    :class:`mmfg.utils.errors.CorruptImageError` naming the path. With
    ``skip_corrupt=True`` it logs a warning (file and running count) through
    the current ``MMLogger`` and returns ``None``; MMEngine's
    ``BaseDataset`` then fetches another index while training (at test time
    it refuses ``None``). The count is per process (each dataloader worker
    counts its own) and readable as :attr:`num_skipped`.

    Args:
        to_float32 (bool): convert the image to float32. Defaults to False.
        color_type (str): flag of :func:`mmcv.imfrombytes`. Defaults to
            ``'color'``.
        imdecode_backend (str): decoding backend of
            :func:`mmcv.imfrombytes`. Defaults to ``'cv2'``.
        file_client_args (dict, optional): deprecated, use ``backend_args``.
            Defaults to None.
        ignore_empty (bool): as in mmcv: return ``None`` silently (no log,
            no count) for an unreadable file. Defaults to False.
        backend_args (dict, optional): MMEngine file backend arguments.
            Defaults to None.
        skip_corrupt (bool): log, count and return ``None`` for an
            unreadable file instead of raising. Defaults to False.
    """

    #: Number of files skipped by ``skip_corrupt`` in this process.
    num_skipped: int = 0

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 file_client_args: Optional[dict] = None,
                 ignore_empty: bool = False,
                 *,
                 backend_args: Optional[dict] = None,
                 skip_corrupt: bool = False) -> None:
        super().__init__(
            to_float32=to_float32,
            color_type=color_type,
            imdecode_backend=imdecode_backend,
            file_client_args=file_client_args,
            ignore_empty=ignore_empty,
            backend_args=backend_args)
        self.skip_corrupt = skip_corrupt

    @classmethod
    def reset_skip_count(cls) -> None:
        """Set the per-process skip counter back to 0."""
        LoadImageFromFile.num_skipped = 0

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image of ``results['img_path']``.

        Args:
            results (dict): must contain ``img_path``.

        Returns:
            dict | None: ``results`` with the image, or ``None`` for a
            skipped unreadable file.
        """
        filename = results['img_path']
        try:
            img = _decode(filename, self.color_type, self.imdecode_backend,
                          self.backend_args, self.file_client_args)
        except CorruptImageError as err:
            if self.skip_corrupt:
                LoadImageFromFile.num_skipped += 1
                MMLogger.get_current_instance().warning(
                    f'Skipped unreadable image "{filename}": '
                    f'{getattr(err, "reason", err)}. '
                    f'{LoadImageFromFile.num_skipped} image(s) '
                    'skipped so far in this process.')
                return None
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['trans_mat'] = np.eye(3, dtype=np.float64)
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', skip_corrupt={self.skip_corrupt})')


@TRANSFORMS.register_module()
class LoadMask(BaseTransform):
    """Load a segmentation mask (e.g. CUB's) into ``gt_mask``.

    The mask file must have the size of the original image. If geometric
    transforms already ran (``trans_mat`` is not the identity), the mask is
    warped into the current image, so the transform may sit anywhere after
    the image loading.

    **Required Keys:** ``gt_mask_path``, ``img`` (or ``ori_shape``).

    **Added Keys:** ``gt_mask`` (uint8 ``(H, W)``).

    Args:
        binarize_threshold (int, optional): if given, ``gt_mask`` becomes
            ``(mask > binarize_threshold)`` as 0/1 uint8; otherwise the file's
            grey levels (0..255) are kept. Defaults to None.
        imdecode_backend (str): decoding backend of
            :func:`mmcv.imfrombytes`. Defaults to ``'cv2'``.
        backend_args (dict, optional): MMEngine file backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 binarize_threshold: Optional[int] = None,
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        if binarize_threshold is not None and not 0 <= int(
                binarize_threshold) <= 255:
            raise ValueError('binarize_threshold must be in [0, 255], got '
                             f'{binarize_threshold}.')
        self.binarize_threshold = binarize_threshold
        self.imdecode_backend = imdecode_backend
        self.backend_args = None if backend_args is None else dict(
            backend_args)

    def transform(self, results: dict) -> dict:
        """Load ``results['gt_mask_path']`` into ``results['gt_mask']``.

        Args:
            results (dict): pipeline results.

        Returns:
            dict: ``results`` with ``gt_mask``.

        Raises:
            KeyError: no ``gt_mask_path`` in ``results``.
            CorruptImageError: the mask file cannot be read.
            AnnotationError: the mask's size differs from the image's.
        """
        if 'gt_mask_path' not in results:
            raise KeyError(
                'LoadMask: no `gt_mask_path` for image '
                f'"{results.get("img_path", "?")}". Does the dataset provide '
                'masks (e.g. CUB `segmentations/` under the data root)?')
        path = results['gt_mask_path']
        mask = _decode(path, 'grayscale', self.imdecode_backend,
                       self.backend_args)
        if 'ori_shape' in results:
            ori_shape = tuple(results['ori_shape'][:2])
        elif results.get('img') is not None:
            ori_shape = tuple(results['img'].shape[:2])
        else:
            raise KeyError('LoadMask needs the image loaded first '
                           '(`ori_shape` or `img` in results).')
        if tuple(mask.shape[:2]) != ori_shape:
            raise AnnotationError(
                path, None,
                f'mask is {mask.shape[0]}x{mask.shape[1]} (HxW) but image '
                f'"{results.get("img_path", "?")}" is '
                f'{ori_shape[0]}x{ori_shape[1]}; a mask must have the size '
                'of its image.')
        if self.binarize_threshold is not None:
            mask = (mask > self.binarize_threshold).astype(np.uint8)
        else:
            mask = mask.astype(np.uint8, copy=False)

        trans_mat = results.get('trans_mat')
        img = results.get('img')
        if trans_mat is not None and img is not None and not np.allclose(
                trans_mat, np.eye(3)):
            mask = warp_mask(mask, trans_mat, img.shape[:2])
        elif img is not None and tuple(img.shape[:2]) != ori_shape:
            raise ValueError(
                'LoadMask: the image was resized or cropped without a '
                '`trans_mat` record, so the mask cannot be aligned. Use mmfg '
                'geometric transforms after mmfg.LoadImageFromFile.')
        results['gt_mask'] = np.ascontiguousarray(mask)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'binarize_threshold={self.binarize_threshold}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')

"""SynthBirds: a procedural bird dataset in the CUB-200-2011 layout."""
import errno
import os
import os.path as osp
import shutil
import tempfile
import warnings
from typing import Any, Dict, Hashable, List, Optional

from mmengine.logging import print_log

from mmfg.registry import DATASETS
from mmfg.utils.errors import ConfigError, DatasetNotFoundError
from .cub import CUB
from .utils import KeyedRows, check_same_keys


def _optional_float(text: str) -> Optional[float]:
    return None if text == 'None' else float(text)


def _optional_str(text: str) -> Optional[str]:
    return None if text == 'None' else text


def _synth():
    # Imported on use: the generator pulls in the renderer, which only
    # SynthBirds needs.
    from . import synth
    return synth


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def normalize_gen_cfg(gen_cfg: Optional[dict]) -> Dict[str, Any]:
    """The generation arguments that decide the data, with defaults filled.

    Args:
        gen_cfg (dict, optional): keyword arguments of
            :func:`mmfg.datasets.synth.generate_synthbirds` (without
            ``out_dir``); ``progress`` is accepted and ignored here because
            it does not change the data.

    Returns:
        dict: the normalised ``gen_cfg`` as stored in ``synthbirds.json``.

    Raises:
        ConfigError: an unknown key or ``out_dir``.
    """
    cfg = dict(gen_cfg or {})
    cfg.pop('progress', None)
    if 'out_dir' in cfg:
        raise ConfigError('SynthBirds: gen_cfg must not contain "out_dir"; '
                          'the data goes to data_root.')
    try:
        return _synth().synthbirds_gen_cfg(**cfg)
    except TypeError as e:
        raise ConfigError(f'SynthBirds: invalid gen_cfg {cfg} ({e}). See '
                          'mmfg.datasets.synth.generate_synthbirds for the '
                          'arguments.') from None


def _stored_config(root: str) -> Dict[str, Any]:
    """Content of ``root/synthbirds.json`` (must be readable)."""
    synth = _synth()
    content = synth.read_synthbirds_config(root)
    if content is None or not isinstance(content.get('gen_cfg'), dict):
        raise ConfigError(
            f'SynthBirds: cannot read the gen_cfg of '
            f'"{osp.join(root, synth.CONFIG_FILE)}". The folder "{root}" is '
            'damaged: delete it to regenerate, or change data_root.')
    return content


def _check_config(root: str, wanted: Dict[str, Any]) -> Dict[str, Any]:
    content = _stored_config(root)
    stored = content['gen_cfg']
    if stored != wanted:
        keys = sorted(
            k for k in set(stored) | set(wanted)
            if stored.get(k) != wanted.get(k))
        diff = ', '.join(f'{k}: stored {stored.get(k)!r} vs requested '
                         f'{wanted.get(k)!r}' for k in keys)
        raise ConfigError(
            f'SynthBirds: "{root}" was generated with a different gen_cfg '
            f'({diff}). Delete the folder to regenerate it, or point '
            'data_root at another folder.')
    version = _synth().GENERATOR_VERSION
    if content.get('generator_version') != version:
        warnings.warn(
            f'SynthBirds: "{root}" was made by generator version '
            f'{content.get("generator_version")}, this is {version}; the '
            'images may differ from what this version would draw. Delete the '
            'folder to regenerate it.')
    return stored


def ensure_synthbirds(data_root: str,
                      gen_cfg: Optional[dict] = None,
                      generate: bool = True) -> str:
    """Make sure ``data_root`` holds SynthBirds generated with ``gen_cfg``.

    Safe when several processes (DDP ranks, jobs sharing a folder) call it
    at once: each generates into a private temporary sibling directory and
    moves the result into place with one atomic ``os.rename``, which never
    replaces a non-empty folder; a process that loses the race deletes its
    copy and uses the winner's. A folder is complete once it holds
    ``synthbirds.json`` (the generator writes it last).

    Args:
        data_root (str): dataset folder.
        gen_cfg (dict, optional): arguments of ``generate_synthbirds``.
        generate (bool): generate when missing; when False a missing dataset
            is an error.

    Returns:
        str: the absolute dataset folder.

    Raises:
        ConfigError: the folder holds data generated with another
            ``gen_cfg``, or is a non-empty folder that is not SynthBirds.
        DatasetNotFoundError: missing and ``generate=False``.
    """
    synth = _synth()
    root = osp.abspath(osp.expanduser(str(data_root)))
    marker = osp.join(root, synth.CONFIG_FILE)
    wanted = normalize_gen_cfg(gen_cfg)
    # listdir before the marker check: a rename by another process between
    # the two makes the folder non-empty *and* marked, never only the first.
    if osp.isdir(root) and os.listdir(root) and not osp.exists(marker):
        raise ConfigError(
            f'SynthBirds: "{root}" exists but is not a complete SynthBirds '
            f'dataset (no {synth.CONFIG_FILE}). Delete or empty it to '
            'generate the data there, or change data_root.')
    if osp.exists(marker):
        _check_config(root, wanted)
        return root
    if not generate:
        raise DatasetNotFoundError(
            root, 'SynthBirds', 'Set generate=True to create it, or run '
            'mmfg.datasets.synth.generate_synthbirds(out_dir, ...).')

    print_log(
        f'SynthBirds: generating {wanted["num_classes"]} classes x '
        f'{wanted["images_per_class"]} images into {root} (first use only; '
        'later runs reuse it)',
        logger='current')
    parent = osp.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}.tmp-', dir=parent)
    try:
        staged = osp.join(tmp, 'synthbirds')
        synth.generate_synthbirds(
            staged,
            progress=bool((gen_cfg or {}).get('progress', False)),
            **wanted)
        # mkdtemp folders are private (0700); give the dataset the mode a
        # plain mkdir would have, so other users/jobs can read it.
        os.chmod(staged, 0o777 & ~_umask())
        try:
            # Atomic; replaces `root` only when it is missing or empty.
            os.rename(staged, root)
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or \
                    not osp.exists(marker):
                raise
            # Another process won the race: use its copy (ours is deleted).
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _check_config(root, wanted)
    return root


@DATASETS.register_module()
class SynthBirds(CUB):
    """A procedural fine-grained bird dataset, generated on first use.

    The data is written by :func:`mmfg.datasets.synth.generate_synthbirds`
    in the exact CUB-200-2011 layout (images, boxes, 15 parts, attributes,
    class attributes, segmentations), deterministically from ``gen_cfg``,
    and read by :class:`CUB`, so every CUB option works (splits,
    ``class_split``, ``with_attributes``, ``with_mask``...).

    If ``data_root`` does not hold a complete dataset it is generated there
    (see :func:`ensure_synthbirds`: safe under DDP) and reused afterwards.
    The generation config is stored in ``data_root/synthbirds.json``; asking
    for a different ``gen_cfg`` with the same ``data_root`` is an error
    rather than a silent reuse.

    Args:
        data_root (str): dataset folder. Defaults to ``'data/synthbirds'``.
        generate (bool): generate the data when missing. Defaults to True.
        gen_cfg (dict, optional): arguments of ``generate_synthbirds``
            (``num_classes``, ``images_per_class``, ``image_size``, ``seed``,
            ``difficulty``, ``train_fraction``, ``with_masks``,
            ``with_meta``, ``with_overhead``: also paired overhead views
            for :class:`~mmfg.datasets.SynthBirdsCrossView`); missing keys
            take the generator's defaults. ``progress=True`` shows a progress
            bar while generating (off by default: under DDP every rank would
            draw one); it is not part of the stored config.
        split (str, optional): see :class:`CUB`.
        with_meta (bool): add ``meta_info`` (``latitude``, ``longitude``,
            ``date``, ``hour``; None where missing) to every sample, read
            from ``image_meta.txt``, as the iNaturalist datasets do. Needs
            data generated with ``gen_cfg=dict(..., with_meta=True)``, whose
            location and date depend on the class. Defaults to False.
        **kwargs: :class:`CUB` arguments (``with_attributes``, ``with_mask``,
            ``class_split``, ``val_ratio``, ``pipeline``, ...).

    Examples:
        >>> ds = SynthBirds('data/synthbirds_tiny', split='val',
        ...                 gen_cfg=dict(num_classes=4, images_per_class=10))
    """

    DATASET_NAME = 'SynthBirds'
    HOW_TO_GET = ('Build the dataset with generate=True, or run '
                  'mmfg.datasets.synth.generate_synthbirds(out_dir, ...).')

    def __init__(self,
                 data_root: str = 'data/synthbirds',
                 generate: bool = True,
                 gen_cfg: Optional[dict] = None,
                 split: Optional[str] = None,
                 with_meta: bool = False,
                 **kwargs):
        self.generate = generate
        self.with_meta = with_meta
        root = ensure_synthbirds(data_root, gen_cfg, generate)
        self.gen_cfg = _stored_config(root)['gen_cfg']
        if with_meta and not self.gen_cfg.get('with_meta', False):
            raise ConfigError(
                f'SynthBirds: with_meta=True but "{root}" was generated '
                'without meta. Add with_meta=True to gen_cfg (and use a new '
                'data_root, or delete the folder to regenerate it).')
        super().__init__(data_root=root, split=split, **kwargs)

    def _add_extras(self, samples: List[dict], keys: List[Hashable],
                    images: KeyedRows) -> None:
        super()._add_extras(samples, keys, images)
        if not self.with_meta:
            return
        path = osp.join(self.data_root, _synth().META_FILE)
        rows = self._read_keyed(
            _synth().META_FILE, [('image_id', self.ID_TYPE),
                                 ('latitude', _optional_float),
                                 ('longitude', _optional_float),
                                 ('date', _optional_str),
                                 ('hour', _optional_float)])
        check_same_keys(images, self._path('images.txt'), rows, path)
        for sample, key in zip(samples, keys):
            lat, lon, date, hour = rows[key][1]
            sample['meta_info'] = dict(
                latitude=lat, longitude=lon, date=date, hour=hour)

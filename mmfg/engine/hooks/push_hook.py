"""Prototype push (projection) for ProtoPNet-style heads, as an MMEngine hook.

:func:`push_prototypes` streams an un-augmented *push* dataloader through the
backbone and every prototype branch once, and replaces each prototype by its
nearest latent patch among training images of its own class
(:class:`~mmfg.models.utils.PatchProjector`: everything on the device, no
Python loop over prototypes, no host sync per batch). Ranks merge their
candidates (ties → smallest dataset index, then smallest position), so DDP
gives the same prototypes as one process. For every prototype it records the
source image (dataset index and path), the latent position, the
receptive-field box and the 95th-percentile high-activation box in input
pixels (both found by upsampling, see :mod:`mmfg.explain.prototypes`) and,
when the pipeline recorded ``trans_mat``, the same boxes in original-image
pixels. The records are stored in the head (and so in checkpoints).

:class:`PrototypePushHook` runs it at the configured epochs, writes the
prototype gallery (PNG grid per class + JSON) to the work dir, and then
optimises the last layer alone (``last_layer_epochs`` passes at
``last_layer_lr``), freezing the last layer again afterwards.
"""
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import Tensor, nn

from mmfg.explain.prototypes import (argmax_location, high_activation_box,
                                     receptive_field_box, upsample_activation)
from mmfg.models.heads.prototype_layer import feature_map
from mmfg.models.utils.projection import PatchProjector
from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError
from .last_layer import (last_layer_parameters, prototype_head,
                         set_requires_grad, train_last_layer, unwrap_model)

__all__ = [
    'iterate_latent_batches', 'push_prototypes', 'prototype_geometry',
    'init_prototypes_from_patches', 'build_push_dataloader',
    'PrototypePushHook'
]


def push_dataloader_cfg(cfg) -> dict:
    """The default push set of a runner config: ``train_dataloader``'s
    dataset through ``test_dataloader``'s pipeline, in order.

    Args:
        cfg: the runner's config (needs ``train_dataloader`` and
            ``test_dataloader``, or ``val_dataloader``).

    Returns:
        dict: a dataloader config (``DefaultSampler(shuffle=False)``).
    """
    import copy
    train = cfg.get('train_dataloader')
    test = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not train or not test:
        raise ConfigError(
            'The prototype hook has no `dataloader` and the config has no '
            'train_dataloader + test_dataloader to derive the push set from: '
            'give the hook `dataloader=dict(...)` (training images, test '
            'pipeline, shuffle=False).')
    loader = copy.deepcopy(dict(train))
    loader['dataset'] = copy.deepcopy(dict(loader['dataset']))
    loader['dataset']['pipeline'] = copy.deepcopy(
        test['dataset']['pipeline'])
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    loader.pop('batch_sampler', None)
    loader['batch_size'] = test.get('batch_size', loader.get('batch_size'))
    return loader


def build_push_dataloader(runner, cfg: Optional[dict]):
    """Build ``cfg`` (a dataloader config), or, when None, the default
    push set of the runner's config (:func:`push_dataloader_cfg`)."""
    if cfg is None:
        cfg = push_dataloader_cfg(runner.cfg)
    return runner.build_dataloader(cfg, seed=runner.seed)


def _sample_indices(samples: Sequence,
                    counter: int) -> Tuple[List[int], bool]:
    """Global dataset indices of a batch (``sample_idx`` metainfo)."""
    idx = []
    for i, ds in enumerate(samples):
        meta = ds.metainfo if ds is not None else {}
        if 'sample_idx' not in meta:
            return list(range(counter, counter + len(samples))), False
        idx.append(int(meta['sample_idx']))
    return idx, True


def iterate_latent_batches(
        model: nn.Module, dataloader) -> Iterator[Tuple[Any, Tensor, Tensor,
                                                        list, Tuple[int,
                                                                    int]]]:
    """Backbone features of every batch of a dataloader, without gradients.

    Args:
        model (nn.Module): an ``ImageClassifier``-like model (wrapped or
            not) with ``data_preprocessor`` and ``extract_feat``.
        dataloader: yields MMEngine data batches.

    Yields:
        tuple: ``(feats, labels (B,), img_idx (B,), data_samples,
        input_hw)`` with labels / indices on the model's device.

    Raises:
        ConfigError: under DDP when the samples carry no ``sample_idx``.
    """
    m = unwrap_model(model)
    counter = 0
    for data_batch in dataloader:
        data = m.data_preprocessor(data_batch, False)
        inputs = data['inputs']
        samples = data['data_samples']
        idx, ok = _sample_indices(samples, counter)
        if not ok and get_world_size() > 1:
            raise ConfigError(
                'Prototype push/prune under DDP needs the `sample_idx` '
                'metainfo (global dataset index) in every data sample: keep '
                "'sample_idx' in the meta_keys of PackInputs/PackFGInputs.")
        counter += len(samples)
        dev = inputs.device
        labels = torch.cat([ds.gt_label for ds in samples]).to(
            dev, non_blocking=True)
        img_idx = torch.tensor(idx, dtype=torch.long).to(
            dev, non_blocking=True)
        feats = m.extract_feat(inputs)
        yield feats, labels, img_idx, samples, tuple(inputs.shape[-2:])


@torch.no_grad()
def prototype_geometry(act: Tensor,
                       pos_h: Tensor,
                       pos_w: Tensor,
                       input_hw: Tuple[int, int],
                       percentile: float = 95.,
                       rf_threshold: float = 0.5,
                       chunk: int = 256) -> Dict[str, Tensor]:
    """Boxes of prototypes on their source images.

    Args:
        act (Tensor): ``(P, h, w)`` activation (similarity) maps.
        pos_h (Tensor): ``(P,)`` latent row of the source patch.
        pos_w (Tensor): ``(P,)`` latent column.
        input_hw (tuple): ``(H, W)`` of the model input.
        percentile (float): of the high-activation box.
        rf_threshold (float): see :func:`receptive_field_box`.
        chunk (int): maps upsampled at a time.

    Returns:
        dict: ``rf_box (P, 4)``, ``hact_box (P, 4)``, ``location (P, 2)``
        (argmax of the upsampled map), int64 input pixels.
    """
    hact, locs = [], []
    for i in range(0, act.shape[0], chunk):
        up = upsample_activation(act[i:i + chunk], input_hw)
        hact.append(high_activation_box(up, percentile))
        locs.append(argmax_location(up))
    rf = receptive_field_box(
        pos_h.clamp_min(0), pos_w.clamp_min(0), act.shape[-2:], input_hw,
        rf_threshold)
    return dict(
        rf_box=rf,
        hact_box=torch.cat(hact) if hact else rf.new_zeros(0, 4),
        location=torch.cat(locs) if locs else rf.new_zeros(0, 2))


def _to_original(boxes: np.ndarray, trans_mat) -> Optional[List[float]]:
    """Map one ``(4,)`` box back to original-image pixels."""
    if trans_mat is None:
        return None
    from mmfg.datasets.transforms.geometry import map_to_original
    out = map_to_original(boxes.astype(np.float64)[None], np.asarray(
        trans_mat, dtype=np.float64))[0]
    return [float(v) for v in out]


@torch.no_grad()
def _project(layer: nn.Module, r: Dict[str, Tensor]) -> None:
    """Write the found patches into ``layer.prototypes`` (unit-normalised
    for cosine layers); prototypes without an allowed image keep theirs."""
    found = r['img_idx'] >= 0
    vec = r['vec'].to(layer.prototypes.dtype)
    if layer.metric == 'cosine':
        vec = torch.nn.functional.normalize(vec, dim=1)
    layer.prototypes.data.copy_(
        torch.where(found[:, None], vec, layer.prototypes.data))


@torch.no_grad()
def salient_patch_mask(feats: Tensor, fraction: float) -> Tensor:
    """The most activated patches of each image.

    Args:
        feats (Tensor): ``(B, C, H, W)`` backbone feature maps.
        fraction (float): share of the ``H * W`` patches kept per image
            (at least one), by the L2 norm of their feature vector.

    Returns:
        Tensor: ``(B, H, W)`` bool.
    """
    B, _, H, W = feats.shape
    norm = feats.float().norm(dim=1).flatten(1)  # (B, HW)
    k = max(1, min(H * W, int(round(fraction * H * W))))
    kth = norm.topk(k, dim=1).values[:, -1:]
    return (norm >= kth).view(B, H, W)


def init_prototypes_from_patches(model: nn.Module,
                                 dataloader,
                                 seed: int = 0,
                                 salient_fraction: Optional[float] = None
                                 ) -> Dict[str, Tensor]:
    """Set every prototype to a random latent patch of its own class.

    A data-driven alternative to ProtoPNet's ``torch.rand`` initialisation:
    each prototype becomes the latent vector (current backbone and add-on)
    at a uniformly drawn position of a uniformly drawn training image of its
    class. The draw is a deterministic hash of (global image index,
    position, prototype, ``seed``) (:func:`random_patch_keys`), so one
    process and N DDP ranks pick the same patches.

    Args:
        model (nn.Module): model with a prototype head (wrapped or not).
        dataloader: un-augmented push dataloader.
        seed (int): selects the draw.
        salient_fraction (float, optional): draw only among the
            ``salient_fraction`` most activated patches of each image (L2
            norm of the backbone feature the prototype layer reads,
            :func:`salient_patch_mask`); None draws among all patches.

    Returns:
        dict: branch name -> ``(P,)`` global image index of each prototype's
        source patch (-1 where its class has no image).
    """
    head = prototype_head(model, 'init_prototypes_from_patches')
    layers = head.prototype_layers()
    m = unwrap_model(model)
    was_training = m.training
    m.eval()
    samplers = {
        name: PatchProjector(
            layer.prototypes, layer.class_identity.bool(), metric='random',
            seed=seed)
        for name, layer in layers.items()
    }
    try:
        for feats, labels, img_idx, _, _ in iterate_latent_batches(
                model, dataloader):
            for name, layer in layers.items():
                mask = None
                if salient_fraction is not None:
                    mask = salient_patch_mask(
                        feature_map(feats, layer.in_index,
                                    layer.num_extra_tokens, layer.token_hw),
                        salient_fraction)
                samplers[name].update(
                    layer.latent(feats), labels, img_idx, patch_mask=mask)
    finally:
        m.train(was_training)
    out = {}
    for name, layer in layers.items():
        samplers[name].merge_distributed()
        r = samplers[name].result()
        _project(layer, r)
        out[name] = r['img_idx']
    return out


def _gather_meta(wanted: set, local: Dict[int, Tuple]) -> Dict[int, Tuple]:
    """Path / trans_mat of the wanted images, from whichever rank saw them."""
    mine = {i: local[i] for i in wanted if i in local}
    if get_world_size() == 1:
        return mine
    merged: Dict[int, Tuple] = {}
    for part in all_gather_object(mine):
        merged.update(part)
    return merged


@torch.no_grad()
def push_prototypes(model: nn.Module,
                    dataloader,
                    percentile: float = 95.,
                    rf_threshold: float = 0.5,
                    update: bool = True,
                    epoch: Optional[int] = None,
                    with_records: bool = True) -> Dict[str, Any]:
    """Project every prototype onto its nearest latent patch of its class.

    Args:
        model (nn.Module): model with a prototype head (wrapped or not).
        dataloader: un-augmented push dataloader (under DDP: a distributed
            sampler without shuffling, samples carrying ``sample_idx``).
        percentile (float): of the high-activation box.
        rf_threshold (float): see :func:`receptive_field_box`.
        update (bool): write the projected vectors into the prototypes.
        epoch (int, optional): stored in the records.
        with_records (bool): compute the per-prototype records (boxes by
            upsampling, paths). False only projects (``records`` is None).

    Returns:
        dict: ``records`` (also stored as ``head.push_records``:
        ``epoch``, ``input_hw``, ``latent_hw``, ``branches`` → list of one
        dict per prototype) and ``act`` (branch → ``(P, h, w)`` activation
        map of each prototype on its source image, before projection, CPU).
    """
    head = prototype_head(model, 'push_prototypes')
    layers = head.prototype_layers()
    m = unwrap_model(model)
    was_training = m.training
    m.eval()
    projectors: Dict[str, PatchProjector] = {}
    for name, layer in layers.items():
        allowed = layer.class_identity.bool() & layer.prototype_valid[:, None]
        projectors[name] = PatchProjector(
            layer.prototypes, allowed, metric=layer.metric,
            keep_maps=with_records)
    meta: Dict[int, Tuple] = {}
    input_hw = None
    try:
        for feats, labels, img_idx, samples, hw in iterate_latent_batches(
                model, dataloader):
            input_hw = hw
            for name, layer in layers.items():
                projectors[name].update(layer.latent(feats), labels, img_idx)
            for ds in samples if with_records else ():
                mi = ds.metainfo
                if 'sample_idx' in mi:
                    tm = mi.get('trans_mat')
                    meta[int(mi['sample_idx'])] = (
                        mi.get('img_path'),
                        None if tm is None else np.asarray(tm).tolist())
    finally:
        m.train(was_training)
    if input_hw is None:
        raise ConfigError('push_prototypes: the push dataloader is empty.')

    results: Dict[str, Dict[str, Tensor]] = {}
    for name, proj in projectors.items():
        proj.merge_distributed()
        results[name] = proj.result()

    if update:
        for name, layer in layers.items():
            _project(layer, results[name])
    if not with_records:
        return dict(records=None, act={})

    wanted = set()
    for r in results.values():
        wanted.update(int(i) for i in r['img_idx'].tolist() if i >= 0)
    meta = _gather_meta(wanted, meta)

    branches: Dict[str, List[Dict[str, Any]]] = {}
    acts: Dict[str, Tensor] = {}
    latent_hw = None
    for name, layer in layers.items():
        r = results[name]
        maps = r['map']  # distances (l2) or similarities (cosine)
        maps = torch.where(torch.isfinite(maps), maps, torch.zeros_like(maps))
        act = layer.activation_maps(maps) if layer.metric == 'squared_l2' \
            else maps.clamp_min(0)
        latent_hw = tuple(act.shape[-2:])
        geo = prototype_geometry(act, r['h'], r['w'], input_hw, percentile,
                                 rf_threshold)
        acts[name] = act.cpu()
        host = {k: v.cpu().numpy() for k, v in geo.items()}
        img_idx = r['img_idx'].cpu().numpy()
        hh, ww = r['h'].cpu().numpy(), r['w'].cpu().numpy()
        dist = r['dist'].float().cpu().numpy()
        cls = layer.prototype_class.cpu().numpy()
        valid = layer.prototype_valid.cpu().numpy()
        score_key = 'distance' if layer.metric == 'squared_l2' \
            else 'similarity'
        recs = []
        for p in range(layer.num_prototypes):
            i = int(img_idx[p])
            path, tm = meta.get(i, (None, None)) if i >= 0 else (None, None)
            rec = {
                'prototype': p,
                'class': int(cls[p]),
                'valid': bool(valid[p]),
                'pushed': bool(i >= 0),
                'img_idx': i,
                'img_path': path,
                'latent_pos': [int(hh[p]), int(ww[p])],
                score_key: float(dist[p]) if i >= 0 else None,
                'rf_box': host['rf_box'][p].tolist() if i >= 0 else None,
                'hact_box': host['hact_box'][p].tolist() if i >= 0 else None,
                'location': host['location'][p].tolist() if i >= 0 else None,
                'rf_box_ori': None,
                'hact_box_ori': None,
            }
            if i >= 0 and tm is not None:
                rec['rf_box_ori'] = _to_original(host['rf_box'][p], tm)
                rec['hact_box_ori'] = _to_original(host['hact_box'][p], tm)
            recs.append(rec)
        branches[name] = recs
    records = dict(
        epoch=epoch,
        input_hw=[int(input_hw[0]), int(input_hw[1])],
        latent_hw=[int(v) for v in latent_hw],
        branches=branches)
    if update:
        head.push_records = records
    return dict(records=records, act=acts)


def _image_as_seen(dataset, idx: int) -> np.ndarray:
    """The push pipeline's image ``idx`` as ``(H, W, 3)`` uint8 RGB."""
    item = dataset[idx]
    img = item['inputs']
    img = img.cpu().numpy() if isinstance(img, Tensor) else np.asarray(img)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, 2)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[..., ::-1])  # loaders give BGR


@HOOKS.register_module()
class PrototypePushHook(Hook):
    """Push prototypes at chosen epochs, write the gallery, then train the
    last layer alone.

    Epochs are counted from 1: ``push_epochs=[10]`` pushes after the 10th
    training epoch (before its validation and checkpoint).

    Args:
        dataloader (dict, optional): config of the un-augmented push
            dataloader. None (default): the training set through the test
            pipeline, in order (:func:`push_dataloader_cfg`).
        push_epochs (Sequence[int], optional): epochs after which to push.
            When None: every ``interval`` epochs from ``start``.
        start (int): first push epoch when ``push_epochs`` is None.
        interval (int): push period when ``push_epochs`` is None.
        last_layer_epochs (int): last-layer-only passes over the training
            data after each push (20 in ProtoPNet, 10 in ST-ProtoPNet).
        last_layer_lr (float): their learning rate (1e-4).
        last_layer_max_iters (int, optional): cap batches per pass.
        freeze_last_layer (bool): keep the last layer frozen outside the
            last-layer phases (as both official codes, whose warm and joint
            optimisers do not hold it).
        percentile (float): high-activation box percentile (95).
        rf_threshold (float): receptive-field box threshold.
        gallery (bool): write ``{work_dir}/{gallery_dir}/epoch_{N}/``.
        gallery_dir (str): gallery folder in the work dir.
        gallery_max_classes (int, optional): only the first classes' PNGs
            (the JSON always lists every prototype).
    """

    priority = 'BELOW_NORMAL'

    def __init__(self,
                 dataloader: Optional[dict] = None,
                 push_epochs: Optional[Sequence[int]] = None,
                 start: int = 10,
                 interval: int = 10,
                 last_layer_epochs: int = 20,
                 last_layer_lr: float = 1e-4,
                 last_layer_max_iters: Optional[int] = None,
                 freeze_last_layer: bool = True,
                 percentile: float = 95.,
                 rf_threshold: float = 0.5,
                 gallery: bool = True,
                 gallery_dir: str = 'prototypes',
                 gallery_max_classes: Optional[int] = None) -> None:
        if push_epochs is None and (start < 1 or interval < 1):
            raise ConfigError('PrototypePushHook: start and interval must be '
                              '>= 1 (epochs are counted from 1).')
        self.dataloader_cfg = dataloader
        self.push_epochs = None if push_epochs is None else sorted(
            int(e) for e in push_epochs)
        self.start = start
        self.interval = interval
        self.last_layer_epochs = last_layer_epochs
        self.last_layer_lr = last_layer_lr
        self.last_layer_max_iters = last_layer_max_iters
        self.freeze_last_layer = freeze_last_layer
        self.percentile = percentile
        self.rf_threshold = rf_threshold
        self.gallery = gallery
        self.gallery_dir = gallery_dir
        self.gallery_max_classes = gallery_max_classes
        self._loader = None

    def is_push_epoch(self, epoch: int) -> bool:
        """Whether to push after (1-based) ``epoch``."""
        if self.push_epochs is not None:
            return epoch in self.push_epochs
        return epoch >= self.start and (epoch - self.start) % \
            self.interval == 0

    def _dataloader(self, runner):
        if self._loader is None:
            self._loader = build_push_dataloader(runner, self.dataloader_cfg)
        return self._loader

    def before_train(self, runner) -> None:
        head = prototype_head(runner.model, 'PrototypePushHook')
        wrapper = runner.model
        if torch_dist.is_available() and torch_dist.is_initialized() and \
                hasattr(wrapper, 'find_unused_parameters') and \
                not wrapper.find_unused_parameters and \
                (self.freeze_last_layer or self.last_layer_epochs > 0):
            raise ConfigError(
                'PrototypePushHook under DDP needs '
                '`model_wrapper_cfg=dict(type="MMDistributedDataParallel", '
                'find_unused_parameters=True)`: frozen parameters get no '
                'gradient.')
        if self.freeze_last_layer:
            set_requires_grad(last_layer_parameters(head), False)

    def after_train_epoch(self, runner) -> None:
        epoch = runner.epoch + 1
        if self.is_push_epoch(epoch):
            self.push(runner, epoch)

    def push(self, runner, epoch: int) -> Dict[str, Any]:
        """Push, write the gallery, train the last layer."""
        out = push_prototypes(
            runner.model,
            self._dataloader(runner),
            percentile=self.percentile,
            rf_threshold=self.rf_threshold,
            update=True,
            epoch=epoch)
        recs = out['records']['branches']
        n = sum(r['pushed'] for v in recs.values() for r in v)
        total = sum(len(v) for v in recs.values())
        print_log(
            f'[push] epoch {epoch}: projected {n}/{total} prototypes onto '
            'training patches of their class', logger='current')
        if self.gallery and is_main_process():
            from mmfg.visualization.prototypes import save_prototype_gallery
            dataset = self._dataloader(runner).dataset
            out_dir = osp.join(runner.work_dir, self.gallery_dir,
                               f'epoch_{epoch}')
            classes = getattr(dataset, 'metainfo', {}).get('classes')
            save_prototype_gallery(
                out['records'],
                lambda i: _image_as_seen(dataset, i),
                out_dir,
                act_maps={k: v.numpy()
                          for k, v in out['act'].items()},
                class_names=classes,
                max_classes=self.gallery_max_classes)
            print_log(f'[push] prototype gallery written to {out_dir}',
                      logger='current')
        head = prototype_head(runner.model)
        train_last_layer(
            runner,
            self.last_layer_epochs,
            self.last_layer_lr,
            self.last_layer_max_iters,
            tag='push')
        if self.freeze_last_layer:
            set_requires_grad(last_layer_parameters(head), False)
        return out

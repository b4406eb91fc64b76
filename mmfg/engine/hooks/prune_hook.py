"""ProtoPNet pruning of prototypes that are not class-specific.

A prototype is pruned when fewer than ``threshold`` of its ``k`` nearest
training patches (one per image, over all classes; ProtoPNet: k=6,
threshold=3) come from its own class. Pruned prototypes are switched off in
place (``PrototypeLayer.prune_``: they no longer contribute to logits,
losses or push), so parameter shapes, optimiser state and checkpoints stay
compatible. The search streams the push dataloader through
:class:`~mmfg.models.utils.NearestImagesTracker` (on the device, merged over
DDP ranks).

Also available offline: ``tools/analysis_tools/prune_prototypes.py``.
"""
from typing import Any, Dict, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import nn

from mmfg.models.utils.projection import NearestImagesTracker
from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError
from .last_layer import prototype_head, train_last_layer, unwrap_model
from .push_hook import iterate_latent_batches

__all__ = ['find_nearest_images', 'prune_prototypes', 'PrototypePruneHook']


@torch.no_grad()
def find_nearest_images(model: nn.Module, dataloader,
                        k: int = 6) -> Dict[str, Dict[str, torch.Tensor]]:
    """The ``k`` nearest images (closest patch per image) of every prototype.

    Args:
        model (nn.Module): model with a prototype head (wrapped or not).
        dataloader: un-augmented dataloader (training images).
        k (int): neighbours per prototype.

    Returns:
        dict: branch → ``dist (P, k)``, ``img_idx (P, k)``, ``label (P, k)``
        (for cosine branches ``dist`` is ``-similarity``).
    """
    head = prototype_head(model, 'find_nearest_images')
    layers = head.prototype_layers()
    m = unwrap_model(model)
    was_training = m.training
    m.eval()
    trackers = {
        name: NearestImagesTracker(layer.num_prototypes, k,
                                   layer.prototypes.device)
        for name, layer in layers.items()
    }
    try:
        for feats, labels, img_idx, _, _ in iterate_latent_batches(
                model, dataloader):
            for name, layer in layers.items():
                maps = layer.distance_maps(layer.latent(feats)).flatten(2)
                d = maps.min(-1).values if layer.metric == 'squared_l2' \
                    else -maps.max(-1).values
                trackers[name].update(d, labels, img_idx)
    finally:
        m.train(was_training)
    out = {}
    for name, tr in trackers.items():
        tr.merge_distributed()
        out[name] = tr.result()
    return out


@torch.no_grad()
def prune_prototypes(model: nn.Module,
                     dataloader,
                     k: int = 6,
                     threshold: int = 3,
                     apply: bool = True) -> Dict[str, Dict[str, Any]]:
    """Prune prototypes whose ``k`` nearest patches are mostly other classes.

    Args:
        model (nn.Module): model with a prototype head.
        dataloader: un-augmented training-image dataloader.
        k (int): nearest images considered (6).
        threshold (int): prune when fewer than this many of them are of the
            prototype's class (3).
        apply (bool): switch the pruned prototypes off in the model.

    Returns:
        dict: branch → ``pruned`` (list of prototype indices newly pruned),
        ``own_count`` (list, own-class neighbours of each prototype),
        ``remaining`` (valid prototypes after pruning).
    """
    if not 0 < threshold <= k:
        raise ConfigError(f'prune: need 0 < threshold <= k, got threshold='
                          f'{threshold}, k={k}')
    head = prototype_head(model, 'prune_prototypes')
    nearest = find_nearest_images(model, dataloader, k)
    report = {}
    for name, layer in head.prototype_layers().items():
        lab = nearest[name]['label']
        own = (lab == layer.prototype_class[:, None]).sum(1)
        prune = (own < threshold) & layer.prototype_valid
        if apply:
            layer.prune_(prune)
        report[name] = dict(
            pruned=torch.nonzero(prune).flatten().tolist(),
            own_count=own.tolist(),
            remaining=int(layer.prototype_valid.sum()))
    return report


@HOOKS.register_module()
class PrototypePruneHook(Hook):
    """Prune prototypes after chosen training epochs, then train the last
    layer alone.

    Runs after :class:`PrototypePushHook` of the same epoch (lower
    priority), so pruning sees the projected prototypes.

    Args:
        dataloader (dict, optional): un-augmented dataloader over training
            images; None derives it from the config
            (:func:`~mmfg.engine.hooks.push_hook.push_dataloader_cfg`).
        prune_epochs (Sequence[int]): 1-based epochs after which to prune.
        k (int): nearest images (6).
        threshold (int): minimum own-class neighbours to keep (3).
        last_layer_epochs (int): last-layer-only passes after pruning.
        last_layer_lr (float): their learning rate.
        last_layer_max_iters (int, optional): cap batches per pass.
    """

    priority = 'LOW'

    def __init__(self,
                 dataloader: Optional[dict] = None,
                 prune_epochs: Sequence[int] = (),
                 k: int = 6,
                 threshold: int = 3,
                 last_layer_epochs: int = 20,
                 last_layer_lr: float = 1e-4,
                 last_layer_max_iters: Optional[int] = None) -> None:
        if not 0 < threshold <= k:
            raise ConfigError('PrototypePruneHook: need 0 < threshold <= k')
        if not prune_epochs:
            raise ConfigError('PrototypePruneHook: give prune_epochs, the '
                              '1-based epochs after which to prune.')
        self.dataloader_cfg = dataloader
        self.prune_epochs = sorted(int(e) for e in prune_epochs)
        self.k = k
        self.threshold = threshold
        self.last_layer_epochs = last_layer_epochs
        self.last_layer_lr = last_layer_lr
        self.last_layer_max_iters = last_layer_max_iters
        self._loader = None
        self.last_report: Optional[Dict[str, Any]] = None

    def before_train(self, runner) -> None:
        prototype_head(runner.model, 'PrototypePruneHook')

    def after_train_epoch(self, runner) -> None:
        epoch = runner.epoch + 1
        if epoch not in self.prune_epochs:
            return
        if self._loader is None:
            from .push_hook import build_push_dataloader
            self._loader = build_push_dataloader(runner, self.dataloader_cfg)
        report = prune_prototypes(runner.model, self._loader, self.k,
                                  self.threshold)
        self.last_report = report
        for name, r in report.items():
            print_log(
                f'[prune] epoch {epoch} {name or "prototypes"}: pruned '
                f'{len(r["pruned"])}, {r["remaining"]} remain '
                f'(k={self.k}, threshold={self.threshold})',
                logger='current')
        train_last_layer(runner, self.last_layer_epochs, self.last_layer_lr,
                         self.last_layer_max_iters, tag='prune')

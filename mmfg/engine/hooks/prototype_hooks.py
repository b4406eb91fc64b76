"""Small hooks of prototype networks.

- :class:`PrototypeRenormHook`: re-normalise unit-norm (cosine) prototypes
  after every optimiser step (ST-ProtoPNet).
- :class:`PrototypeInitHook`: before training, set every prototype to a
  random latent patch of a training image of its class (data-driven
  initialisation instead of ``torch.rand``).
- :class:`PrototypeStabilityHook`: for the stability metric (Huang et al.,
  ICCV 2023), run every val/test batch a second time with Gaussian noise
  ``N(0, std)`` clipped to ``±clip`` added in normalised input space, and
  attach the noisy prototype locations (``proto_loc_noisy``) to the data
  samples, beside the clean ``proto_loc`` the head's ``predict`` adds.
"""
from typing import Optional

import torch
from mmengine.hooks import Hook

from mmfg.registry import HOOKS
from .last_layer import prototype_head, unwrap_model

__all__ = [
    'PrototypeRenormHook', 'PrototypeStabilityHook', 'PrototypeInitHook'
]


@HOOKS.register_module()
class PrototypeRenormHook(Hook):
    """Project prototypes back to the unit sphere after each training
    iteration (ST-ProtoPNet does it after every optimiser step).

    Works with any prototype head: every branch layer built with
    ``normalize_prototypes=True`` is re-normalised. Runs before the
    ``NORMAL``-priority hooks (EMA, probes) see the parameters.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        head = prototype_head(runner.model, 'PrototypeRenormHook')
        for layer in head.prototype_layers().values():
            if layer.normalize_prototypes:
                layer.renormalize_prototypes_()


@HOOKS.register_module()
class PrototypeInitHook(Hook):
    """Initialise prototypes from random latent patches of their class.

    ProtoPNet initialises prototypes with ``torch.rand`` (mean 0.5). With
    the ``regular`` add-on (Sigmoid) the latent patches nearest to such
    vectors are the weakly activated ones, typically the border cells of the
    map (zero padding), and min-pooling routes all early gradient through
    them, so prototypes settle on border/background patches. Starting each
    prototype at a random patch of its own class (drawn uniformly over
    images and positions, deterministic, DDP-consistent:
    :func:`init_prototypes_from_patches`) spreads the initial nearest
    patches over the map. A deviation from the paper, opt-in in the config.

    Runs once, before the first epoch; skipped when training resumes or
    starts from ``load_from`` (the checkpoint's prototypes are kept).

    Args:
        dataloader (dict, optional): the un-augmented push dataloader
            config; None derives it from the config (training set, test
            pipeline).
        seed (int): selects the draw. Defaults to 0.
        salient_fraction (float, optional): draw only among this share of
            each image's most activated patches (L2 norm of the backbone
            feature; with a pretrained backbone these lie on the object).
            None (default) draws among all patches.
    """

    priority = 'LOW'

    def __init__(self,
                 dataloader: Optional[dict] = None,
                 seed: int = 0,
                 salient_fraction: Optional[float] = None) -> None:
        if salient_fraction is not None and not 0 < salient_fraction <= 1:
            raise ValueError('PrototypeInitHook: salient_fraction must be in '
                             f'(0, 1] or None, got {salient_fraction}')
        self.dataloader_cfg = dataloader
        self.seed = seed
        self.salient_fraction = salient_fraction

    def before_train(self, runner) -> None:
        if runner.iter > 0 or getattr(runner, '_load_from', None):
            runner.logger.info('PrototypeInitHook: checkpoint loaded, '
                               'keeping its prototypes.')
            return
        from .push_hook import (build_push_dataloader,
                                init_prototypes_from_patches)
        loader = build_push_dataloader(runner, self.dataloader_cfg)
        src = init_prototypes_from_patches(runner.model, loader, self.seed,
                                           self.salient_fraction)
        n = sum(int((v >= 0).sum()) for v in src.values())
        runner.logger.info(f'PrototypeInitHook: {n} prototypes set to '
                           'random latent patches of their class.')


@HOOKS.register_module()
class PrototypeStabilityHook(Hook):
    """Noisy second pass for the prototype stability metric.

    The noise of each image is drawn from a generator seeded with
    ``seed + sample_idx``, so results do not depend on batching or on the
    number of DDP ranks.

    Args:
        std (float): noise standard deviation in normalised space (0.2).
        clip (float): noise clipped to ``[-clip, clip]`` (0.25).
        seed (int): base seed.
        on_val (bool): also during validation (doubles its cost).
    """

    priority = 'NORMAL'

    def __init__(self,
                 std: float = 0.2,
                 clip: float = 0.25,
                 seed: int = 0,
                 on_val: bool = False) -> None:
        self.std = std
        self.clip = clip
        self.seed = seed
        self.on_val = on_val

    @torch.no_grad()
    def _noisy_pass(self, runner, data_batch: Optional[dict]) -> None:
        if data_batch is None:
            return
        model = unwrap_model(runner.model)
        head = prototype_head(runner.model, 'PrototypeStabilityHook')
        data = model.data_preprocessor(data_batch, False)
        inputs = data['inputs']
        samples = data['data_samples']
        noise = torch.empty(inputs.shape[1:], dtype=torch.float32)
        noises = []
        for i, ds in enumerate(samples):
            sid = int(ds.metainfo.get('sample_idx', i))
            g = torch.Generator().manual_seed(self.seed + sid)
            noises.append(
                noise.normal_(0, self.std, generator=g).clamp_(
                    -self.clip, self.clip).clone())
        noisy = inputs + torch.stack(noises).to(inputs.device, inputs.dtype)
        feats = model.extract_feat(noisy)
        was = head.predict_locations
        head.predict_locations = True
        try:
            f = head._prototype_fields(feats, samples)
        finally:
            head.predict_locations = was
        for i, ds in enumerate(data_batch['data_samples']):
            ds.set_field(f['loc'][i].cpu(), 'proto_loc_noisy')

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        self._noisy_pass(runner, data_batch)

    def before_val_iter(self, runner, batch_idx: int,
                        data_batch=None) -> None:
        if self.on_val:
            self._noisy_pass(runner, data_batch)

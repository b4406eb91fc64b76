"""Attribution methods behind one interface.

Public signatures (stable)::

    logits_fn(model) -> Callable[(N, 3, H, W)] -> (N, C)
    logits_features_fn(model) -> Callable -> ((N, C), (N, D))
    grad_cam(model, inputs, targets, layer, plus_plus=False, forward_fn=None)
        -> (B, H, W)
    occlusion(forward_fn, inputs, targets, patch=16, stride=8,
              baseline='zeros', chunk_size=64) -> (B, H, W)
    attribute_batch(model, inputs, targets, method='gradcam', **cfg)
        -> dict(map (B, H, W), [order, masks, scores] for smdl)

``method`` is one of :data:`ATTRIBUTION_METHODS`: ``'gradcam'``,
``'gradcampp'``, ``'cam'``, ``'occlusion'``, ``'random'`` and ``'smdl'``.
Every map has the input size ``(H, W)``; larger means more important for
the target class, so the faithfulness metrics of
:mod:`.faithfulness` compare them directly.

Grad-CAM (Selvaraju et al., ICCV 2017) and Grad-CAM++ (Chattopadhay et al.,
WACV 2018) hook a named module of the model itself (e.g.
``'backbone.layer4'``): ``A (B, K, h, w)`` its output, ``g = dy_c / dA``;
Grad-CAM weights ``alpha_k = mean_hw g``; Grad-CAM++ weights
``sum_hw a * relu(g)`` with ``a = g^2 / (2 g^2 + sum_hw A * g^3)`` (the
closed form for an exponential score); the map ``relu(sum_k alpha_k A_k)``
is resized bilinearly to the input. For a GAP + linear model Grad-CAM is
the CAM (:func:`mmfg.models.classifiers.cam_localizer.class_activation_maps`)
divided by ``h * w``, which ``'cam'`` computes without gradients.
"""
from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmfg.utils.errors import ConfigError
from .faithfulness import make_baseline, target_probs
from .partitions import build_partition
from .smdl import smdl_attribution

__all__ = [
    'logits_fn', 'logits_features_fn', 'grad_cam', 'occlusion', 'cam',
    'attribute_batch', 'ATTRIBUTION_METHODS', 'resize_maps'
]

#: the names :func:`attribute_batch` accepts
ATTRIBUTION_METHODS = ('gradcam', 'gradcampp', 'cam', 'occlusion', 'random',
                       'smdl')


def _is_classifier(model: nn.Module) -> bool:
    return hasattr(model, 'extract_feat') and hasattr(model, 'head')


def logits_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``(N, 3, H, W) -> (N, C)`` logits of a model.

    Args:
        model (nn.Module): an MMPretrain-style classifier (``extract_feat``
            and ``head``; called with ``mode='tensor'``) or any module
            returning logits.

    Returns:
        Callable: the forward function.
    """
    if _is_classifier(model):
        return lambda x: model(x, mode='tensor')
    return model


def logits_features_fn(model: nn.Module) -> Callable:
    """``(N, 3, H, W) -> (logits (N, C), features (N, D))``.

    The features are the head's ``pre_logits`` (the pooled embedding) for
    a classifier with a linear ``head.fc``; for other modules a
    ``features(x)`` method is used when present, else the logits.

    Args:
        model (nn.Module): the classifier.

    Returns:
        Callable: the forward function.
    """
    head = getattr(model, 'head', None)
    if _is_classifier(model) and hasattr(head, 'pre_logits') and \
            isinstance(getattr(head, 'fc', None), nn.Linear):

        def fn(x):
            emb = head.pre_logits(model.extract_feat(x))
            return head.fc(emb), emb

        return fn
    if hasattr(model, 'features'):
        return lambda x: (model(x), model.features(x).flatten(1))

    def plain(x):
        out = model(x)
        return out, out

    return plain


def resize_maps(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of ``(B, h, w)`` maps to ``size (H, W)``."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None].float(), size=tuple(size),
                         mode='bilinear', align_corners=False)[:, 0]


def _module(model: nn.Module, layer: str) -> nn.Module:
    try:
        return model.get_submodule(layer)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n][:12]
        raise ConfigError(
            f'Grad-CAM: the model has no module {layer!r}. Name a layer of '
            f'the model, e.g. one of {names} ...') from None


def grad_cam(model: nn.Module,
             inputs: torch.Tensor,
             targets: torch.Tensor,
             layer: str = 'backbone.layer4',
             plus_plus: bool = False,
             forward_fn: Optional[Callable] = None,
             resize: bool = True) -> torch.Tensor:
    """Grad-CAM / Grad-CAM++ through a hook on the model's own layer.

    Args:
        model (nn.Module): the classifier.
        inputs (Tensor): ``(B, 3, H, W)``.
        targets (Tensor): ``(B,)`` int64 classes.
        layer (str): dotted module name (``model.get_submodule``); a tuple
            output takes its last element.
        plus_plus (bool): Grad-CAM++ weights.
        forward_fn (Callable, optional): logits function (default
            :func:`logits_fn`).
        resize (bool): resize to ``(H, W)`` (else the layer resolution).

    Returns:
        Tensor: ``(B, H, W)`` non-negative maps (detached).
    """
    fn = forward_fn or logits_fn(model)
    store = {}

    def hook(_m, _i, out):
        store['act'] = out[-1] if isinstance(out, (tuple, list)) else out

    handle = _module(model, layer).register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = fn(inputs)
            act = store['act']
            score = logits.gather(1, targets.view(-1, 1)).sum()
            grad = torch.autograd.grad(score, act)[0]
    finally:
        handle.remove()
    act = act.detach()
    if plus_plus:
        g2, g3 = grad**2, grad**3
        denom = 2 * g2 + (act * g3).sum((2, 3), keepdim=True)
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        weights = (alpha * grad.clamp(min=0)).sum((2, 3))
    else:
        weights = grad.mean((2, 3))
    maps = torch.einsum('bkhw,bk->bhw', act, weights).clamp(min=0)
    return resize_maps(maps, inputs.shape[-2:]) if resize else maps


def cam(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
        resize: bool = True) -> torch.Tensor:
    """Class activation maps of a GAP + linear classifier (no gradients).

    Args:
        model (nn.Module): classifier whose ``head.fc`` is linear.
        inputs (Tensor): ``(B, 3, H, W)``.
        targets (Tensor): ``(B,)``.
        resize (bool): resize to the input size.

    Returns:
        Tensor: ``(B, H, W)`` (signed, as CAM).
    """
    # imported here: mmfg.models imports this package (AttributionClassifier)
    from mmfg.models.classifiers.cam_localizer import class_activation_maps
    fc = getattr(getattr(model, 'head', None), 'fc', None)
    if not isinstance(fc, nn.Linear) or not _is_classifier(model):
        raise ConfigError("method 'cam' needs a GAP + linear classifier "
                          '(head.fc); use gradcam for other models.')
    with torch.no_grad():
        fmap = model.backbone(inputs)[-1]
        maps = class_activation_maps(fmap, fc.weight, targets)
    return resize_maps(maps, inputs.shape[-2:]) if resize else maps


def occlusion(forward_fn: Callable,
              inputs: torch.Tensor,
              targets: torch.Tensor,
              patch: int = 16,
              stride: int = 8,
              baseline: Union[str, torch.Tensor] = 'zeros',
              chunk_size: int = 64) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus, 2014), batched.

    Every window (``patch`` square, ``stride`` apart, the last flush with
    the border) is replaced by the baseline; a pixel's value is the mean
    drop of the target probability over the windows covering it. All
    windows of all images go through the model in chunks.

    Args:
        forward_fn (Callable): ``(N, 3, H, W) -> (N, C)`` logits.
        inputs (Tensor): ``(B, 3, H, W)``.
        targets (Tensor): ``(B,)``.
        patch (int): window side.
        stride (int): window step.
        baseline (str | Tensor): see :func:`make_baseline`.
        chunk_size (int): images per forward pass.

    Returns:
        Tensor: ``(B, H, W)``.
    """
    b, _, h, w = inputs.shape
    dev = inputs.device

    def starts(n):
        s = list(range(0, max(n - patch, 0) + 1, stride))
        if s[-1] + patch < n:
            s.append(n - patch)
        return torch.tensor(s, device=dev)

    ys, xs = starts(h), starts(w)
    yy = torch.arange(h, device=dev)
    xx = torch.arange(w, device=dev)
    row = (yy[None] >= ys[:, None]) & (yy[None] < ys[:, None] + patch)
    col = (xx[None] >= xs[:, None]) & (xx[None] < xs[:, None] + patch)
    wins = (row[:, None, :, None] & col[None, :, None, :]).reshape(-1, h, w)
    nw = wins.shape[0]
    base = make_baseline(inputs, baseline)
    with torch.no_grad():
        full = target_probs(forward_fn, inputs, targets)
        img_idx = torch.arange(b, device=dev).repeat_interleave(nw)
        win_idx = torch.arange(nw, device=dev).repeat(b)
        drops = []
        for s in range(0, img_idx.numel(), chunk_size):
            i, j = img_idx[s:s + chunk_size], win_idx[s:s + chunk_size]
            x = torch.where(wins[j][:, None], base[i], inputs[i])
            drops.append(full[i] - target_probs(forward_fn, x, targets[i]))
        drops = torch.cat(drops).view(b, nw)
    wf = wins.float().view(nw, -1)
    maps = (drops @ wf) / wf.sum(0).clamp(min=1)
    return maps.view(b, h, w)


def _images_for_partition(inputs: torch.Tensor,
                          image_rgb: Optional[Sequence[np.ndarray]],
                          mean, std) -> Sequence[np.ndarray]:
    if image_rgb is not None:
        return image_rgb
    x = inputs.detach().float().cpu()
    if mean is not None and std is not None:
        x = x * torch.as_tensor(std).view(1, -1, 1, 1) + torch.as_tensor(
            mean).view(1, -1, 1, 1)
    else:
        lo = x.amin((1, 2, 3), keepdim=True)
        x = (x - lo) / (x.amax((1, 2, 3), keepdim=True) - lo).clamp(min=1e-6)
        x = x * 255
    return [
        np.ascontiguousarray(
            v.clamp(0, 255).byte().permute(1, 2, 0).numpy()) for v in x
    ]


def attribute_batch(model: nn.Module,
                    inputs: torch.Tensor,
                    targets: torch.Tensor,
                    method: str = 'gradcam',
                    layer: str = 'backbone.layer4',
                    partition: Optional[dict] = None,
                    prior_method: str = 'gradcam',
                    weights: Optional[Dict[str, float]] = None,
                    budget: Optional[int] = None,
                    lazy: bool = False,
                    lazy_batch: int = 8,
                    patch: int = 16,
                    stride: int = 8,
                    baseline: Union[str, torch.Tensor] = 'zeros',
                    mean: Optional[Sequence[float]] = None,
                    std: Optional[Sequence[float]] = None,
                    image_rgb: Optional[Sequence[np.ndarray]] = None,
                    masks: Optional[Sequence[torch.Tensor]] = None,
                    chunk_size: int = 64,
                    seed: int = 0) -> Dict[str, object]:
    """Attribution maps of a batch with any method of
    :data:`ATTRIBUTION_METHODS`.

    Args:
        model (nn.Module): the classifier (eval mode).
        inputs (Tensor): ``(B, 3, H, W)`` model inputs.
        targets (Tensor): ``(B,)`` int64 explained classes.
        method (str): ``'gradcam'``, ``'gradcampp'``, ``'cam'``,
            ``'occlusion'``, ``'random'`` (a uniform random map, the chance
            reference) or ``'smdl'``.
        layer (str): Grad-CAM layer.
        partition (dict, optional): SMDL sub-regions (see
            :func:`~.partitions.build_partition`); default
            ``dict(type='slic', n_segments=49)``.
        prior_method (str): prior map for ``partition.type='saliency_grid'``.
        weights (dict, optional): SMDL score weights.
        budget (int, optional): SMDL regions to select.
        lazy (bool): SMDL lazy greedy (approximate).
        lazy_batch (int): candidates rescored per lazy step.
        patch (int): occlusion window.
        stride (int): occlusion stride.
        baseline (str | Tensor): removed-pixel image (occlusion, SMDL).
        mean (Sequence[float], optional): normalisation mean (for
            ``baseline='black'`` and to recover RGB for superpixels).
        std (Sequence[float], optional): normalisation std.
        image_rgb (list[np.ndarray], optional): ``(H, W, 3)`` uint8 images
            as seen, for superpixels (default: un-normalised ``inputs``).
        masks (list[Tensor], optional): user region masks per image
            (``partition.type='masks'``).
        chunk_size (int): images per forward pass.
        seed (int): seed of ``'random'``.

    Returns:
        dict: ``map (B, H, W)``; for SMDL also ``order``, ``scores``,
        ``masks`` (lists, one per image).
    """
    if method not in ATTRIBUTION_METHODS:
        raise ConfigError(f'unknown attribution method {method!r}; use one '
                          f'of {list(ATTRIBUTION_METHODS)}.')
    if inputs.ndim != 4 or targets.shape != inputs.shape[:1]:
        raise ValueError(
            f'attribute_batch: inputs {tuple(inputs.shape)} must be (B, 3, '
            f'H, W) with targets (B,), got targets {tuple(targets.shape)}.')
    if method in ('gradcam', 'gradcampp'):
        return dict(map=grad_cam(model, inputs, targets, layer,
                                 plus_plus=method == 'gradcampp'))
    if method == 'cam':
        return dict(map=cam(model, inputs, targets))
    if method == 'occlusion':
        return dict(map=occlusion(logits_fn(model), inputs, targets, patch,
                                  stride, baseline, chunk_size))
    if method == 'random':
        g = torch.Generator().manual_seed(int(seed))
        b, _, h, w = inputs.shape
        return dict(map=torch.rand(b, h, w, generator=g).to(inputs.device))
    # SMDL
    partition = dict(partition or dict(type='slic', n_segments=49))
    base = make_baseline(inputs, baseline, mean=mean, std=std)
    prior = None
    if partition.get('type') == 'saliency_grid':
        prior = attribute_batch(model, inputs, targets, prior_method,
                                layer=layer, patch=patch, stride=stride,
                                baseline=baseline, mean=mean, std=std,
                                chunk_size=chunk_size)['map']
    rgbs = _images_for_partition(inputs, image_rgb, mean, std)
    fn = logits_features_fn(model)
    out = dict(order=[], scores=[], masks=[], map=[])
    with torch.no_grad():
        for i in range(inputs.shape[0]):
            cfg = dict(partition)
            if cfg.get('type') == 'masks':
                if masks is None:
                    raise ConfigError("partition type 'masks' needs masks "
                                      '(one (K, H, W) stack per image).')
                cfg['masks'] = masks[i]
            regions = build_partition(
                cfg, rgbs[i], None if prior is None else prior[i]).to(
                    inputs.device)
            res = smdl_attribution(fn, inputs[i], regions, int(targets[i]),
                                   base[i], weights, budget, lazy,
                                   lazy_batch, chunk_size)
            for k in ('order', 'scores', 'masks', 'map'):
                out[k].append(res[k])
    out['map'] = torch.stack(out['map'])
    return out

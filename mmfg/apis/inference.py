"""One-call inference and explanation for users.

>>> from mmfg.apis import init_model, inference, explain
>>> model = init_model('configs/protopnet/....py', 'epoch_30.pth')
>>> result = inference(model, 'bird.jpg')      # DataSample
>>> expls = explain(model, 'bird.jpg', out_dir='explanations/')
"""
import copy
import inspect
import json
import os
import os.path as osp
from typing import Any, List, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from torch import nn

from mmfg.utils import register_all_modules, trusted_checkpoints

__all__ = [
    'init_model', 'inference', 'explain', 'to_jsonable', 'drop_pretrained_init'
]


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               trust_checkpoint: bool = False) -> nn.Module:
    """Build a model from a config and (optionally) load a checkpoint.

    Args:
        config (str | Config): config file or object.
        checkpoint (str, optional): checkpoint path (safe loading; see
            :mod:`mmfg.utils.checkpoint`).
        device (str): device to put the model on.
        cfg_options (dict, optional): config overrides.
        trust_checkpoint (bool): full unpickling of ``checkpoint``; only
            for trusted files.

    Returns:
        nn.Module: the model in eval mode, with ``model.cfg`` set and
        ``model.dataset_meta`` from the checkpoint when present.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if checkpoint is not None:
        from .tools import fill_work_dir
        fill_work_dir(cfg, osp.dirname(osp.abspath(checkpoint)))
    register_all_modules(init_default_scope=False)
    scope = cfg.get('default_scope', 'mmfg')
    from mmfg.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model_cfg = copy.deepcopy(cfg.model)
        if cfg.get('data_preprocessor') is not None:
            model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
        # no pretrained download when a checkpoint follows
        if checkpoint is not None:
            drop_pretrained_init(model_cfg)
        model = MODELS.build(model_cfg)
    if checkpoint is not None:
        ctx = trusted_checkpoints(checkpoint) if trust_checkpoint else None
        if ctx is not None:
            with ctx:
                ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        else:
            ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if 'dataset_meta' in meta:
            model.dataset_meta = meta['dataset_meta']
    model.cfg = cfg
    model.to(device).eval()
    return model


def drop_pretrained_init(cfg: Union[dict, list]) -> None:
    """Remove every ``init_cfg=dict(type='Pretrained', ...)`` in a model
    config, in place (a checkpoint follows, or no weights are wanted)."""
    if isinstance(cfg, dict):
        init = cfg.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            cfg['init_cfg'] = None
        for v in cfg.values():
            drop_pretrained_init(v)
    elif isinstance(cfg, (list, tuple)):
        for v in cfg:
            drop_pretrained_init(v)


# Transforms that load annotations of dataset images (a single image given
# for inference has none): dropped from the inference pipeline.
_ANNOTATION_LOADERS = ('LoadMask', )


def _is_annotation_loader(transform: Any) -> bool:
    kind = transform.get('type') if isinstance(transform, dict) else None
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.split('.')[-1] in _ANNOTATION_LOADERS


def _test_pipeline(cfg: Config) -> Compose:
    pipeline = [
        t for t in copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        if not _is_annotation_loader(t)
    ]
    scope = cfg.get('default_scope', 'mmfg')
    with DefaultScope.overwrite_default_scope(scope):
        return Compose(pipeline)


def _prepare(model: nn.Module, img: Union[str, np.ndarray]):
    pipeline = _test_pipeline(model.cfg)
    if isinstance(img, str):
        if not osp.isfile(img):
            raise FileNotFoundError(f'image "{img}" does not exist')
        data = dict(img_path=img)
    else:
        first = pipeline.transforms[0]
        if 'LoadImage' in type(first).__name__:
            pipeline.transforms.pop(0)
        data = dict(
            img=img,
            img_shape=img.shape[:2],
            ori_shape=img.shape[:2],
            trans_mat=np.eye(3))
    data = pipeline(data)
    if data is None:
        raise RuntimeError(f'the test pipeline rejected the image {img}')
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    return model.data_preprocessor(batch, False)


def _image_as_seen(model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) normalised tensor -> (H, W, 3) uint8 RGB."""
    pre = model.data_preprocessor
    x = inputs[0].detach().float().cpu()
    mean = getattr(pre, 'mean', None)
    std = getattr(pre, 'std', None)
    if mean is not None and std is not None:
        x = x * std.view(-1, 1, 1).cpu() + mean.view(-1, 1, 1).cpu()
    x = x.clamp(0, 255).byte().permute(1, 2, 0).numpy()
    return np.ascontiguousarray(x)


@torch.no_grad()
def inference(model: nn.Module, img: Union[str, np.ndarray]) -> Any:
    """Classify one image with the config's test pipeline.

    Args:
        model (nn.Module): from :func:`init_model`.
        img (str | np.ndarray): image path or BGR ``(H, W, 3)`` array.

    Returns:
        DataSample: with ``pred_label`` and ``pred_score``.
    """
    batch = _prepare(model, img)
    return model(**batch, mode='predict')[0]


def to_jsonable(obj: Any) -> Any:
    """Convert an explanation to JSON types; arrays of ndim >= 2 (maps,
    crops) are left out."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(v, (np.ndarray, torch.Tensor)) and v.ndim >= 2:
                continue
            out[str(k)] = to_jsonable(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


@torch.no_grad()
def explain(model: nn.Module,
            img: Union[str, np.ndarray],
            out_dir: Optional[str] = None,
            **kwargs) -> List[dict]:
    """Explain the model's decision on one image.

    The model's head must implement ``explain(feats, data_samples, **kw)``
    (prototype networks, trees, CAM heads do); the explanation is rendered
    by :func:`mmfg.visualization.render_explanation`.

    Args:
        model (nn.Module): from :func:`init_model`.
        img (str | np.ndarray): image path or BGR array.
        out_dir (str, optional): write ``<name>_explanation.png`` and
            ``<name>_explanation.json`` there.
        **kwargs: passed to the head's ``explain`` (e.g. ``topk``).

    Returns:
        list[dict]: the explanations (one per image; here one).
    """
    head = getattr(model, 'head', None)
    if head is None or not hasattr(head, 'explain'):
        raise TypeError(
            f'{type(head).__name__} has no `explain` method; explanations '
            'are available for the interpretable heads of mmfg (ProtoPNet, '
            'ST-ProtoPNet, ProtoTree, ...).')
    batch = _prepare(model, img)
    feats = model.extract_feat(batch['inputs'])
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    if classes is not None and 'classes' not in kwargs and \
            'classes' in inspect.signature(head.explain).parameters:
        kwargs['classes'] = list(classes)
    attr_names = (getattr(model, 'dataset_meta', None)
                  or {}).get('attribute_names')
    if attr_names is not None and 'attribute_names' not in kwargs and \
            'attribute_names' in inspect.signature(head.explain).parameters:
        kwargs['attribute_names'] = list(attr_names)
    expls = head.explain(feats, batch['data_samples'], **kwargs)
    if out_dir is not None:
        from mmfg.visualization import render_explanation
        os.makedirs(out_dir, exist_ok=True)
        stem = osp.splitext(osp.basename(img))[0] if isinstance(
            img, str) else 'image'
        seen = _image_as_seen(model, batch['inputs'])
        for i, expl in enumerate(expls):
            suffix = '' if len(expls) == 1 else f'_{i}'
            base = osp.join(out_dir, f'{stem}_explanation{suffix}')
            render_explanation(expl, seen, base + '.png')
            with open(base + '.json', 'w') as f:
                json.dump(to_jsonable(expl), f, indent=2)
    return expls

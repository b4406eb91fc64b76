"""One-call attribution of a classifier's decision.

Public signature (stable)::

    attribute(model, img, method=None, target=None, out_dir=None,
              **explain_overrides)
        -> dict(map (H, W), method, target, pred_label, pred_score,
                insertion (S + 1,), deletion (S + 1,), insertion_auc,
                deletion_auc, [order (k,), masks (m, H, W), scores (k,)])

>>> from mmfg.apis import init_model, attribute
>>> model = init_model('configs/smdl/smdl_r18_synthbirds.py', 'epoch_30.pth')
>>> out = attribute(model, 'bird.jpg', out_dir='attr/')   # SMDL
>>> cam = attribute(model, 'bird.jpg', method='gradcam')

The settings come from the config's ``explain_cfg`` (see
``configs/smdl/``), overridden by the keyword arguments; the maths is
:func:`mmfg.models.classifiers.attribution_classifier.explain_and_score`
(any MMPretrain classifier works, not only ``AttributionClassifier``).
"""
import json
import os
import os.path as osp
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from mmfg.models.classifiers.attribution_classifier import explain_and_score
from .inference import _image_as_seen, _prepare, to_jsonable

__all__ = ['attribute', 'explain_config']


def explain_config(model: nn.Module, **overrides) -> dict:
    """The explanation settings of a model: its config's ``explain_cfg``
    (or ``model.explain_cfg``), then ``overrides``.

    Args:
        model (nn.Module): from :func:`mmfg.apis.init_model`.
        **overrides: keys of ``explain_cfg`` (``None`` values ignored).

    Returns:
        dict: the merged settings (``method`` defaults to ``'smdl'``).
    """
    cfg = getattr(model, 'cfg', None)
    base = cfg.get('explain_cfg', None) if cfg is not None else None
    if base is None:
        base = getattr(model, 'explain_cfg', None)
    out = dict(base or {})
    method = overrides.get('method')
    if method is not None and method != out.get('method'):
        # settings of another method do not carry over
        keep = ('target', 'steps', 'baseline', 'eval_baseline',
                'chunk_size', 'eval_chunk_size', 'mean', 'std')
        out = {k: v for k, v in out.items() if k in keep}
        out.pop('order', None)
    out.update({k: v for k, v in overrides.items() if v is not None})
    out.setdefault('method', 'smdl')
    return out


def attribute(model: nn.Module,
              img: Union[str, np.ndarray],
              method: Optional[str] = None,
              target: Optional[int] = None,
              out_dir: Optional[str] = None,
              **explain_overrides) -> dict:
    """Attribute the model's decision on one image and score it.

    Args:
        model (nn.Module): a classifier from :func:`mmfg.apis.init_model`.
        img (str | np.ndarray): image path or BGR ``(H, W, 3)`` array.
        method (str, optional): ``'smdl'``, ``'gradcam'``, ``'gradcampp'``,
            ``'cam'``, ``'occlusion'``, ``'random'`` (default: the config's).
        target (int, optional): explained class (default: the prediction).
        out_dir (str, optional): write ``<name>_<method>.png`` (overlay),
            ``..._regions.png`` (SMDL), ``..._curves.png`` and ``.json``.
        **explain_overrides: other ``explain_cfg`` keys (``partition``,
            ``weights``, ``steps``, ``lazy``, ``layer`` ...).

    Returns:
        dict: see the module docstring (tensors as numpy arrays).
    """
    cfg = explain_config(model, method=method, **explain_overrides)
    cfg.pop('target', None)
    batch = _prepare(model, img)
    inputs = batch['inputs']
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
    score = logits.float().softmax(-1)[0]
    pred = int(score.argmax())
    tgt = pred if target is None else int(target)
    seen = _image_as_seen(model, inputs)
    cfg.setdefault('image_rgb', [seen])
    res = explain_and_score(model, inputs,
                            torch.tensor([tgt], device=inputs.device), cfg)
    out = dict(
        method=cfg['method'],
        target=tgt,
        pred_label=pred,
        pred_score=score.cpu().numpy(),
        map=res['map'][0].detach().float().cpu().numpy(),
        insertion=res['insertion'][0].cpu().numpy(),
        deletion=res['deletion'][0].cpu().numpy(),
        insertion_auc=float(res['insertion_auc'][0]),
        deletion_auc=float(res['deletion_auc'][0]))
    if 'order' in res:
        out['order'] = res['order'][0].cpu().numpy()
        out['scores'] = res['scores'][0].float().cpu().numpy()
        out['masks'] = res['masks'][0].cpu().numpy()
    if out_dir is not None:
        from mmfg.visualization import render_explanation
        os.makedirs(out_dir, exist_ok=True)
        stem = osp.splitext(osp.basename(img))[0] if isinstance(
            img, str) else 'image'
        base = osp.join(out_dir, f'{stem}_{out["method"]}')
        out['files'] = render_explanation(
            dict(type='attribution',
                 title=f'target {tgt}  pred {pred} '
                 f'({float(score[pred]):.2f})',
                 **out), seen, base + '.png')
        with open(base + '.json', 'w') as f:
            json.dump(to_jsonable({k: v for k, v in out.items()
                                   if k != 'masks'}), f, indent=2)
        out['files'].append(base + '.json')
    return out

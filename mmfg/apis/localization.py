"""One-call weakly supervised localisation.

Public signature (stable)::

    localize(model, img, threshold=None, multi_contour=False, out_dir=None)
        -> dict(loc_map (H, W) float32 in [0, 1], boxes (K, 4) int64,
                boxes_original (K, 4) float, pred_score (C,), pred_label,
                threshold)

>>> from mmfg.apis import init_model, localize
>>> model = init_model('configs/cam/cam_r18_synthbirds.py', 'epoch_20.pth')
>>> out = localize(model, 'bird.jpg', out_dir='loc/')  # + loc/bird_loc.png

    export_pseudo_boxes(model, dataset, out_file, threshold=None,
                        multi_contour=False, batch_size=16, use_gt_label=True,
                        index_names=False)
        -> dict (COCO: images, annotations, categories)
"""
import json
import os
import os.path as osp
from typing import List, Optional, Union

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mmfg.datasets.transforms.geometry import map_to_original
from mmfg.explain.localization import (boxes_at_threshold, normalize_map,
                                       quantize_map)
from .inference import _image_as_seen, _prepare

__all__ = ['localize', 'default_threshold', 'export_pseudo_boxes']


def localization_metric_cfgs(cfg: dict,
                             key: str = 'test_evaluator') -> List[dict]:
    """The ``LocalizationMetric`` entries of a config's evaluator.

    Args:
        cfg (Config | dict): the config.
        key (str): ``'test_evaluator'`` or ``'val_evaluator'``.

    Returns:
        list[dict]: the metric configs (empty for a model that does not
        localise).
    """
    evals = cfg.get(key) or []
    evals = evals if isinstance(evals, (list, tuple)) else [evals]
    return [
        ev for ev in evals if isinstance(ev, dict) and str(ev.get(
            'type', '')).split('.')[-1] == 'LocalizationMetric'
    ]


def default_threshold(model_or_cfg: Union[nn.Module, dict],
                      fallback: float = 0.5) -> float:
    """The tau of the config's test ``LocalizationMetric``.

    A float ``threshold`` is used as is; a json path written by
    ``save_threshold`` on a validation split is read when it exists;
    otherwise ``fallback``.

    Args:
        model_or_cfg (nn.Module | Config): a model from
            :func:`mmfg.apis.init_model` (``model.cfg``) or a config.
        fallback (float): tau when the config says nothing usable.

    Returns:
        float: tau in ``[0, 1)``.
    """
    cfg = model_or_cfg.cfg if isinstance(model_or_cfg, nn.Module) else \
        model_or_cfg
    cfg = cfg if hasattr(cfg, 'get') else None
    for ev in localization_metric_cfgs(cfg) if cfg is not None else []:
        thr = ev.get('threshold', fallback)
        if isinstance(thr, (int, float)):
            return float(thr)
        if isinstance(thr, str) and thr.endswith('.json') and osp.isfile(thr):
            with open(thr) as f:
                return float(json.load(f)['threshold'])
    return fallback


@torch.no_grad()
def localize(model: nn.Module,
             img: Union[str, np.ndarray],
             threshold: Optional[float] = None,
             multi_contour: bool = False,
             out_dir: Optional[str] = None) -> dict:
    """Localise the object of one image with a WSOL model.

    The model's ``predict`` must set ``loc_map`` (:class:`CAMLocalizer`,
    BAS); the box follows the WSOL protocol
    (:mod:`mmfg.explain.localization`): the map is resized to the input,
    min-max normalised and quantised, and the largest contour (or all
    contours) at ``threshold`` gives the box.

    Args:
        model (nn.Module): from :func:`mmfg.apis.init_model`.
        img (str | np.ndarray): image path or BGR ``(H, W, 3)`` array.
        threshold (float, optional): tau; default
            :func:`default_threshold`.
        multi_contour (bool): boxes of all contours instead of the largest.
        out_dir (str, optional): write ``<name>_loc.png`` (overlay + boxes)
            and ``<name>_loc.json`` there.

    Returns:
        dict: ``loc_map (H, W)`` float32 (input pixels), ``boxes (K, 4)``
        int64 (input pixels, inclusive corners), ``boxes_original (K, 4)``
        float (original image pixels, through the pipeline's ``trans_mat``),
        ``pred_score (C,)``, ``pred_label`` and ``threshold``.
    """
    batch = _prepare(model, img)
    sample = model(**batch, mode='predict')[0]
    if 'loc_map' not in sample:
        raise TypeError(
            f'{type(model).__name__}.predict sets no "loc_map"; use a WSOL '
            'model (CAMLocalizer, BAS).')
    h, w = batch['inputs'].shape[-2:]
    norm = normalize_map(sample.loc_map, (h, w))
    tau = default_threshold(model) if threshold is None else float(threshold)
    boxes = boxes_at_threshold(quantize_map(norm), tau, multi_contour)
    trans_mat = sample.metainfo.get('trans_mat')
    # inclusive integer corners -> continuous [x0, x1 + 1) before mapping
    cont = boxes.astype(np.float64) + np.array([0, 0, 1, 1])
    original = map_to_original(cont, trans_mat) if trans_mat is not None \
        else cont
    out = dict(
        loc_map=norm,
        boxes=boxes,
        boxes_original=np.asarray(original, dtype=np.float64),
        pred_score=sample.pred_score.cpu().numpy(),
        pred_label=int(sample.pred_label.reshape(-1)[0]),
        threshold=tau)
    if out_dir is not None:
        from mmfg.visualization import render_explanation
        stem = osp.splitext(osp.basename(img))[0] if isinstance(
            img, str) else 'image'
        base = osp.join(out_dir, f'{stem}_loc')
        os.makedirs(out_dir, exist_ok=True)
        seen = _image_as_seen(model, batch['inputs'])
        render_explanation(
            dict(type='localization', loc_map=norm, pred_boxes=boxes,
                 title=f'class {out["pred_label"]}  tau {tau:.3f}'), seen,
            base + '.png')
        with open(base + '.json', 'w') as f:
            json.dump({k: (v.tolist() if isinstance(v, np.ndarray) else v)
                       for k, v in out.items() if k != 'loc_map'}, f)
    return out


@torch.no_grad()
def export_pseudo_boxes(model: nn.Module,
                        dataset: Dataset,
                        out_file: Optional[str] = None,
                        threshold: Optional[float] = None,
                        multi_contour: bool = False,
                        batch_size: int = 16,
                        use_gt_label: bool = True,
                        index_names: bool = False) -> dict:
    """WSOL boxes of a dataset as a COCO-format detection annotation file.

    Every image gets the box(es) of its localisation map at ``threshold``,
    mapped back to the original image through the test pipeline's
    ``trans_mat``; the category is the image-level label (the weak
    supervision) or, with ``use_gt_label=False``, the prediction. An
    MMDetection config then trains a detector on the file (see
    ``configs/cam/README.md``).

    Args:
        model (nn.Module): a WSOL model (``predict`` sets ``loc_map``).
        dataset: an mmfg dataset whose pipeline is the test pipeline
            (``img_path``, ``ori_shape``, ``trans_mat`` in the samples).
        out_file (str, optional): write the json there.
        threshold (float, optional): tau; default
            :func:`default_threshold`.
        multi_contour (bool): one box per contour instead of the largest.
        batch_size (int): images per forward pass.
        use_gt_label (bool): category from the image label.
        index_names (bool): name the categories ``class_0``, ``class_1``...
            instead of the dataset's class names (an MMDetection config
            then lists them without knowing the dataset).

    Returns:
        dict: ``images`` (``id, file_name`` (absolute path), ``width,
        height``), ``annotations`` (``id, image_id, category_id, bbox
        [x, y, w, h]`` in original pixels, ``area, iscrowd``) and
        ``categories`` (``id, name``); category ids are the 1-based class
        indices (COCO style).
    """
    model.eval()
    tau = default_threshold(model) if threshold is None else float(threshold)
    classes = list((getattr(dataset, 'metainfo', None) or {}).get(
        'classes', []) or [])
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        collate_fn=pseudo_collate)
    images, annotations = [], []
    for data in loader:
        batch = model.data_preprocessor(data, False)
        samples = model(**batch, mode='predict')
        for s in samples:
            if 'loc_map' not in s:
                raise TypeError(f'{type(model).__name__}.predict sets no '
                                '"loc_map"; use a WSOL model.')
            h, w = s.metainfo['img_shape'][:2]
            oh, ow = s.metainfo['ori_shape'][:2]
            norm = normalize_map(s.loc_map, (h, w))
            boxes = boxes_at_threshold(quantize_map(norm), tau, multi_contour)
            cont = boxes.astype(np.float64) + np.array([0, 0, 1, 1])
            orig = np.asarray(
                map_to_original(cont, s.metainfo['trans_mat']),
                dtype=np.float64).reshape(-1, 4)
            orig[:, 0::2] = orig[:, 0::2].clip(0, ow)
            orig[:, 1::2] = orig[:, 1::2].clip(0, oh)
            img_id = len(images) + 1
            path = s.metainfo.get('img_path', f'{img_id}.jpg')
            images.append(dict(id=img_id, file_name=path, width=int(ow),
                               height=int(oh)))
            label = s.get('gt_label', None)
            if use_gt_label and label is not None and label.numel():
                cat = int(label.reshape(-1)[0])
            else:
                cat = int(s.pred_label.reshape(-1)[0])
            for x0, y0, x1, y1 in orig.tolist():
                bw, bh = x1 - x0, y1 - y0
                if bw <= 0 or bh <= 0:
                    continue
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=img_id,
                         category_id=cat + 1, bbox=[x0, y0, bw, bh],
                         area=bw * bh, iscrowd=0))
    num_classes = len(classes) or max(
        [a['category_id'] for a in annotations], default=0)
    names = [
        classes[c] if c < len(classes) and not index_names else f'class_{c}'
        for c in range(num_classes)
    ]
    coco = dict(
        images=images,
        annotations=annotations,
        categories=[dict(id=c + 1, name=n) for c, n in enumerate(names)],
        info=dict(description=f'WSOL pseudo boxes (tau {tau:.3f}, '
                  f'{"all contours" if multi_contour else "largest"})'))
    if out_file is not None:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        with open(out_file, 'w') as f:
            json.dump(coco, f)
    return coco

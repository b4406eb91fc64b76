"""Write WSOL overlays (map, predicted box, GT boxes) during testing.

Public signature (stable)::

    LocalizationVisualizationHook(out_dir, interval=1, threshold=None,
                                  multi_contour=False)

``tools/test.py --show-dir DIR`` adds it; samples without ``loc_map`` are
skipped, so it is harmless for plain classifiers.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.hooks import Hook

from mmfg.explain.localization import (boxes_at_threshold, gt_boxes_to_pixels,
                                       normalize_map, quantize_map)
from mmfg.registry import HOOKS

__all__ = ['LocalizationVisualizationHook']


@HOOKS.register_module()
class LocalizationVisualizationHook(Hook):
    """Render ``<out_dir>/<image>_loc.png`` for every ``interval``-th image.

    Args:
        out_dir (str): output folder.
        interval (int): render every N-th image of the test set.
        threshold (float, optional): tau of the box; default the test
            ``LocalizationMetric``'s (:func:`mmfg.apis.localization.
            default_threshold`), else 0.5.
        multi_contour (bool): boxes of all contours instead of the largest.
    """
    priority = 'LOW'

    def __init__(self,
                 out_dir: str,
                 interval: int = 1,
                 threshold: Optional[float] = None,
                 multi_contour: bool = False) -> None:
        self.out_dir = out_dir
        self.interval = max(1, int(interval))
        self.threshold = threshold
        self.multi_contour = multi_contour
        self._count = 0

    def before_test(self, runner) -> None:
        if self.threshold is None:
            from mmfg.apis.localization import default_threshold
            self.threshold = default_threshold(runner.cfg)
        self._count = 0

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        from mmfg.visualization import render_explanation
        inputs = (data_batch or {}).get('inputs', [])
        for i, sample in enumerate(outputs or []):
            index = self._count
            self._count += 1
            if 'loc_map' not in sample or index % self.interval:
                continue
            img = inputs[i].detach().cpu().numpy().transpose(1, 2, 0)
            img = np.ascontiguousarray(img[..., ::-1].astype(np.uint8))
            norm = normalize_map(sample.loc_map, img.shape[:2])
            boxes = boxes_at_threshold(
                quantize_map(norm), self.threshold, self.multi_contour)
            gt = gt_boxes_to_pixels(sample.gt_bboxes) \
                if 'gt_bboxes' in sample else None
            path = sample.metainfo.get('img_path', f'{index:06d}.png')
            stem = osp.splitext(osp.basename(path))[0]
            title = f'tau {self.threshold:.3f}'
            if 'pred_label' in sample:
                title = f'pred {int(sample.pred_label)}  ' + title
            render_explanation(
                dict(type='localization', loc_map=norm, pred_boxes=boxes,
                     gt_boxes=gt, title=title), img,
                osp.join(self.out_dir, f'{stem}_loc.png'))

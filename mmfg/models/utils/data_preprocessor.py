"""Data preprocessor for samples that carry several views of one image."""
from typing import List

import torch
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor

from mmfg.registry import MODELS

__all__ = ['MultiViewClsDataPreprocessor']


@MODELS.register_module()
class MultiViewClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also accepts ``V`` views per sample.

    A pipeline with MMPretrain's ``MultiView`` transform packs ``inputs`` as
    a list of ``V`` image tensors per sample (e.g. one augmentation per
    member of a DMML cohort). Each view is preprocessed as
    ``ClsDataPreprocessor`` would (BGR to RGB, normalisation, padding) and
    the views are stacked into ``inputs (B, V, C, H, W)``. Single-view
    batches (test pipelines) give ``(B, C, H, W)`` exactly as the parent.

    Args: as :class:`mmpretrain.models.utils.ClsDataPreprocessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a batch.

        Args:
            data (dict): ``inputs`` is a batch tensor, a list of ``B``
                ``(C, H, W)`` tensors (``pseudo_collate``), a list of ``V``
                lists of ``B`` tensors (``pseudo_collate`` of multi-view
                samples) or a list of ``V`` ``(B, C, H, W)`` tensors
                (``default_collate`` of multi-view samples).
            training (bool): training mode (batch augmentations).

        Returns:
            dict: ``inputs`` ``(B, C, H, W)`` or ``(B, V, C, H, W)`` and
            ``data_samples``.
        """
        inputs = data['inputs']
        views = self._views(inputs)
        if views is None:
            return super().forward(data, training)
        outs = [
            super(MultiViewClsDataPreprocessor, self).forward(
                dict(data, inputs=v), training) for v in views
        ]
        return dict(
            inputs=torch.stack([o['inputs'] for o in outs], 1),
            data_samples=outs[0]['data_samples'])

    @staticmethod
    def _views(inputs) -> List:
        """The per-view batches, or None for a single-view batch."""
        if isinstance(inputs, torch.Tensor) or not inputs:
            return None
        first = inputs[0]
        if isinstance(first, (list, tuple)):
            return list(inputs)  # V lists of B tensors
        if isinstance(first, torch.Tensor) and first.ndim == 4:
            return list(inputs)  # V batch tensors
        return None

"""mmfg data transforms.

Geometric transforms are registered under the names of the mmcv / MMPretrain
transforms they extend, so pipelines written for MMPretrain keep working under
``default_scope='mmfg'`` and gain box / part / mask handling.
"""
from .cross_view import CollectViews
from .formatting import PackFGInputs
from .geometric import (BBoxCrop, CenterCrop, RandomCrop, RandomFlip,
                        RandomResizedCrop, RandomSkew, Resize, ResizeEdge)
from .geometry import (apply_affine_to_boxes, apply_affine_to_points,
                       clip_boxes, map_to_original, transform_parts,
                       update_geometry, warp_mask)
from .loading import LoadImageFromFile, LoadMask
from .meta import (SpatioTemporalMeta, TextEmbeddingMeta,
                   encode_spatiotemporal, load_text_embedding)

__all__ = [
    'LoadImageFromFile', 'LoadMask', 'Resize', 'ResizeEdge',
    'RandomResizedCrop', 'CenterCrop', 'RandomCrop', 'RandomFlip', 'BBoxCrop',
    'RandomSkew',
    'PackFGInputs', 'apply_affine_to_boxes', 'apply_affine_to_points',
    'clip_boxes', 'map_to_original', 'transform_parts', 'update_geometry',
    'warp_mask', 'SpatioTemporalMeta', 'TextEmbeddingMeta',
    'encode_spatiotemporal', 'load_text_embedding', 'CollectViews'
]

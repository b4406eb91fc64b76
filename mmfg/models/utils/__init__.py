from .distances import (cosine_similarity_map, l2_map, log_similarity,
                        pairwise_cosine_similarity, pairwise_l2,
                        pairwise_squared_l2, squared_l2_map)
from .projection import PatchProjector
from .projection import NearestImagesTracker  # noqa: E402

__all__ = [
    'cosine_similarity_map', 'l2_map', 'log_similarity',
    'pairwise_cosine_similarity', 'pairwise_l2', 'pairwise_squared_l2',
    'squared_l2_map', 'PatchProjector'
]
__all__ += ['NearestImagesTracker']

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
from .distances import min_squared_l2  # noqa: E402
from .tree import (children_from_incidence, full_tree_children,
                   greedy_leaves, incidence_from_children, leaf_path_index,
                   log_one_minus_exp_neg, logmatmulexp, node_depths,
                   prune_masks, route_log_probs, route_log_probs_matmul,
                   subtree_classes, tree_ids, validate_incidence)

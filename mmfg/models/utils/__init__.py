from .concept_attention import ConceptCrossAttention, SlotAttention
from .concept_mapping import ConceptMapping, build_concept_mapping
from .data_preprocessor import MultiViewClsDataPreprocessor
from .distances import (DISTANCES, cosine_similarity_map, l2_map,
                        log_similarity, min_squared_l2,
                        pairwise_cosine_similarity, pairwise_distance,
                        pairwise_l2, pairwise_squared_l2, snr_distance,
                        squared_l2_map)
from .projection import NearestImagesTracker, PatchProjector
from .tree import (children_from_incidence, full_tree_children, greedy_leaves,
                   incidence_from_children, leaf_path_index,
                   log_one_minus_exp_neg, logmatmulexp, node_depths,
                   prune_masks, route_log_probs, route_log_probs_matmul,
                   subtree_classes, tree_ids, validate_incidence)

__all__ = [
    'cosine_similarity_map', 'l2_map', 'log_similarity', 'min_squared_l2',
    'pairwise_cosine_similarity', 'pairwise_l2', 'pairwise_squared_l2',
    'squared_l2_map', 'DISTANCES', 'pairwise_distance', 'snr_distance',
    'PatchProjector', 'NearestImagesTracker', 'MultiViewClsDataPreprocessor',
    'children_from_incidence', 'full_tree_children', 'greedy_leaves',
    'incidence_from_children', 'leaf_path_index', 'log_one_minus_exp_neg',
    'logmatmulexp', 'node_depths', 'prune_masks', 'route_log_probs',
    'route_log_probs_matmul', 'subtree_classes', 'tree_ids',
    'validate_incidence', 'ConceptCrossAttention', 'SlotAttention',
    'ConceptMapping', 'build_concept_mapping'
]

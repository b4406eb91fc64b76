"""Attribution: sub-region partitions, SMDL subset selection, baseline
methods (Grad-CAM family, occlusion) and faithfulness measures. Pure
functions, no I/O."""
from .faithfulness import (boxes_to_masks, curve_auc, highest_confidence,
                           insertion_deletion, make_baseline, mass_inside_box,
                           perturbation_curves, pixel_ranks, pointing_game,
                           reference_curve, region_ranks, target_probs)
from .methods import (ATTRIBUTION_METHODS, attribute_batch, cam, grad_cam,
                      logits_features_fn, logits_fn, occlusion, resize_maps)
from .partitions import (PARTITIONS, build_partition, felzenszwalb_partition,
                         grid_partition, labels_to_masks, masks_partition,
                         saliency_grid_partition, seeds_partition,
                         slic_partition)
from .smdl import (DEFAULT_WEIGHTS, SMDLScore, effectiveness, greedy_select,
                   rank_map, reference_greedy, reference_smdl_score,
                   smdl_attribution)

__all__ = [
    'boxes_to_masks', 'curve_auc', 'highest_confidence',
    'insertion_deletion', 'make_baseline', 'mass_inside_box',
    'perturbation_curves', 'pixel_ranks', 'pointing_game', 'reference_curve',
    'region_ranks', 'target_probs', 'ATTRIBUTION_METHODS', 'attribute_batch',
    'cam', 'grad_cam', 'logits_features_fn', 'logits_fn', 'occlusion',
    'resize_maps', 'PARTITIONS', 'build_partition', 'felzenszwalb_partition',
    'grid_partition', 'labels_to_masks', 'masks_partition',
    'saliency_grid_partition', 'seeds_partition', 'slic_partition',
    'DEFAULT_WEIGHTS', 'SMDLScore', 'effectiveness', 'greedy_select',
    'rank_map', 'reference_greedy', 'reference_smdl_score',
    'smdl_attribution'
]

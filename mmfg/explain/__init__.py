from .localization import (SweepResult, box_iou_plus1, box_overlaps_plus1,
                           boxes_at_threshold, default_thresholds,
                           gt_boxes_to_pixels, image_chunks, mask_iou,
                           normalize_map, quantize_map, reference_sweep_boxes,
                           sweep, sweep_boxes, sweep_ious, sweep_result_ious,
                           threshold_levels)
from .prototree import (decision_paths, leaf_topk, tree_description,
                        tree_explanations)
from .prototypes import (argmax_location, box_around, boxes_contain_points,
                         high_activation_box, high_activation_mask,
                         percentile_threshold, receptive_field_box,
                         upsample_activation)

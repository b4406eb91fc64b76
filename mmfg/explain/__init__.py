
from .prototypes import (argmax_location, box_around, boxes_contain_points,
                         high_activation_box, high_activation_mask,
                         percentile_threshold, receptive_field_box,
                         upsample_activation)
from .prototree import (decision_paths, leaf_topk, tree_description,
                        tree_explanations)

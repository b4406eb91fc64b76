from .attribution import curve_plot, render_attribution
from .concepts import render_concept_explanation
from .explanation import EXPLANATION_RENDERERS, render_explanation
from .localization import render_localization
from .prototypes import render_prototype_explanation, save_prototype_gallery
from .tree import (render_prototree_explanation, render_tree, tree_layout,
                   tree_to_dot, tree_to_svg)

__all__ = [
    'EXPLANATION_RENDERERS', 'render_explanation', 'render_localization',
    'render_prototype_explanation', 'save_prototype_gallery',
    'render_prototree_explanation', 'render_tree', 'tree_layout',
    'tree_to_dot', 'tree_to_svg', 'render_concept_explanation',
    'render_attribution', 'curve_plot'
]

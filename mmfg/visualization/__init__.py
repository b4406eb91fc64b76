from .explanation import EXPLANATION_RENDERERS, render_explanation

__all__ = ['EXPLANATION_RENDERERS', 'render_explanation']
from .tree import (render_prototree_explanation, render_tree, tree_layout,
                   tree_to_dot, tree_to_svg)
from .prototypes import (render_prototype_explanation,  # noqa: F401
                         save_prototype_gallery)

from .explanation import EXPLANATION_RENDERERS, render_explanation

__all__ = ['EXPLANATION_RENDERERS', 'render_explanation']

"""GenPromp (ICCV 2023) for mmfg: Stable Diffusion prompts as a localiser.

Importing this package registers :class:`GenPromp` in ``mmfg.registry``
(``custom_imports=dict(imports=['projects.genpromp.genpromp'])``).
"""
from .attention import (AttentionStore, CaptureCrossAttnProcessor,
                        aggregate_maps, install_capture)
from .components import build_sd_components
from .model import GenPromp
from .text import (CAPTION_TEMPLATES, PromptTokenEmbedding,
                   build_tiny_clip_tokenizer, encode_templates,
                   meta_words_from_names, read_class_names)

__all__ = [
    'AttentionStore', 'CaptureCrossAttnProcessor', 'aggregate_maps',
    'install_capture', 'build_sd_components', 'GenPromp',
    'CAPTION_TEMPLATES', 'PromptTokenEmbedding', 'build_tiny_clip_tokenizer',
    'encode_templates', 'meta_words_from_names', 'read_class_names'
]

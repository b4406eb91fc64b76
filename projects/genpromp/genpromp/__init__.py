"""GenPromp (ICCV 2023) for mmfg: Stable Diffusion prompts as a localiser.

Importing this package registers :class:`GenPromp` (models) and
:class:`SynthBirdsCaptions` (datasets) in ``mmfg.registry``
(``custom_imports=dict(imports=['projects.genpromp.genpromp'])``).
"""
from .attention import (AttentionStore, CaptureCrossAttnProcessor,
                        aggregate_maps, install_capture)
from .captions import (CAPTION_WORDS, SynthBirdsCaptions, background_word,
                       body_colour_word, synthbirds_scene_words)
from .components import build_sd_components
from .model import GenPromp
from .text import (CAPTION_TEMPLATES, PromptTokenEmbedding,
                   build_tiny_clip_tokenizer, encode_templates,
                   meta_words_from_names, read_class_names)

__all__ = [
    'AttentionStore', 'CaptureCrossAttnProcessor', 'aggregate_maps',
    'install_capture', 'build_sd_components', 'GenPromp',
    'CAPTION_TEMPLATES', 'PromptTokenEmbedding', 'build_tiny_clip_tokenizer',
    'encode_templates', 'meta_words_from_names', 'read_class_names',
    'CAPTION_WORDS', 'SynthBirdsCaptions', 'body_colour_word',
    'background_word', 'synthbirds_scene_words'
]

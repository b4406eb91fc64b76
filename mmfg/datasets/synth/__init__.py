"""SynthBirds: a procedural fine-grained bird dataset in the CUB layout.

All classes share one body plan and differ only in small parts (crest
colour, wing bars, beak shape, tail mark, eye ring, breast pattern) on
cluttered backgrounds; see :mod:`.spec` for the class vocabulary,
:mod:`.render` for the renderer and :mod:`.generator` for the files.
"""
from .generator import (CONFIG_FILE, CROSS_VIEW_FILE, GENERATOR_VERSION,
                        META_FILE, class_meta_centre, format_meta_line,
                        generate_synthbirds, read_synthbirds_config,
                        sample_meta, synthbirds_gen_cfg, true_location)
from .overhead import habitat_colour, render_overhead
from .render import (BirdPose, BirdRender, BirdScene, BirdShape, BirdStyle,
                     Occluder, attributes_from_code, mirror_scene,
                     neutral_attributes, render_bird, sample_scene)
from .spec import (ATTRIBUTE_BY_NAME, CERTAINTY_NAMES, DIFFICULTIES,
                   PART_ATTRIBUTES, PART_FLIP_PAIRS, PART_NAMES,
                   DifficultyConfig, PartAttribute, attribute_vocabulary,
                   class_codes, class_definitions, class_name, get_difficulty)

__all__ = [
    'generate_synthbirds', 'DIFFICULTIES', 'DifficultyConfig',
    'get_difficulty', 'GENERATOR_VERSION', 'CONFIG_FILE', 'synthbirds_gen_cfg',
    'read_synthbirds_config', 'META_FILE', 'sample_meta',
    'class_meta_centre', 'format_meta_line', 'PART_NAMES', 'PART_FLIP_PAIRS',
    'PART_ATTRIBUTES', 'ATTRIBUTE_BY_NAME', 'PartAttribute', 'CERTAINTY_NAMES',
    'attribute_vocabulary', 'class_codes', 'class_definitions', 'class_name',
    'BirdPose', 'BirdShape', 'BirdStyle', 'Occluder', 'BirdScene',
    'BirdRender', 'sample_scene', 'render_bird', 'mirror_scene',
    'neutral_attributes', 'attributes_from_code', 'CROSS_VIEW_FILE',
    'true_location', 'render_overhead', 'habitat_colour'
]

"""What a SynthBirds class is: part vocabulary, difficulties, class codes.

Every SynthBirds bird has the same body plan (body, head, neck, wing, tail,
legs, eye) drawn from one shared, class-independent distribution of shapes,
body colours and poses. A class is a combination of *part attributes*, one
value per discriminative part:

==========  ===================  ==========================================
attribute   CUB part(s)          values
==========  ===================  ==========================================
crest       crown                colour of the crest tuft and crown cap
wing        left/right wing      bar pattern painted on the visible wing
beak        beak                 beak shape (length, thickness, curvature)
tail        tail                 mark painted on the tail
eye_ring    left/right eye       colour of the ring around the visible eye
breast      breast               pattern painted on the breast
==========  ===================  ==========================================

The first value of each attribute is its *neutral* value; attributes a
difficulty does not use are fixed to it for every class.

Class codes are chosen by deterministic farthest-point sampling in the
Hamming space of attribute combinations, so the first ``n`` classes of a
difficulty are the same whatever ``num_classes`` is, and every pair of
classes differs in at least ``min_class_distance`` attributes.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy as np

__all__ = [
    'PART_NAMES', 'PART_FLIP_PAIRS', 'PartAttribute', 'PART_ATTRIBUTES',
    'ATTRIBUTE_BY_NAME', 'DifficultyConfig', 'DIFFICULTIES', 'get_difficulty',
    'class_codes', 'class_definitions', 'class_name', 'attribute_vocabulary',
    'CERTAINTY_NAMES'
]

#: The 15 CUB-200-2011 part names, in ``parts/parts.txt`` order (1-based id
#: = index + 1).
PART_NAMES: Tuple[str, ...] = ('back', 'beak', 'belly', 'breast', 'crown',
                               'forehead', 'left eye', 'left leg', 'left wing',
                               'nape', 'right eye', 'right leg', 'right wing',
                               'tail', 'throat')

#: 0-based part indices swapped by a horizontal flip (left/right eye, leg,
#: wing), as in ``docs/data_fields.md``.
PART_FLIP_PAIRS: Tuple[Tuple[int, int], ...] = ((6, 10), (7, 11), (8, 12))

#: CUB's ``attributes/certainties.txt``.
CERTAINTY_NAMES: Tuple[str, ...] = ('not visible', 'guessing', 'probably',
                                    'definitely')

# Colours are RGB.
_CREST_COLORS: Dict[str, Tuple[int, int, int]] = {
    'red': (225, 25, 25),
    'yellow': (250, 220, 20),
    'blue': (30, 80, 235),
    'white': (248, 248, 248),
    'black': (15, 15, 15),
    'green': (30, 175, 55),
    'orange': (255, 135, 0),
    'magenta': (200, 40, 190),
    'cyan': (0, 200, 215),
}


@dataclass(frozen=True)
class PartAttribute:
    """One discriminative part attribute.

    Args:
        name (str): short key used in class codes, e.g. ``'crest'``.
        cub_part (str): CUB-style part word of the attribute name
            (``has_<cub_part>_<prop>::<value>``).
        prop (str): property word, e.g. ``'color'``, ``'pattern'``.
        values (tuple[str]): all values; ``values[0]`` is the neutral one.
        words (tuple[str]): one class-name token per value (capitalised,
            underscores allowed), used to build readable class names.
        parts (tuple[str]): the CUB part names (:data:`PART_NAMES`) whose
            keypoints lie on this attribute's region; ``'eye'`` and
            ``'wing'`` stand for the visible one.
    """

    name: str
    cub_part: str
    prop: str
    values: Tuple[str, ...]
    words: Tuple[str, ...]
    parts: Tuple[str, ...]

    def cub_names(self) -> List[str]:
        """CUB-style names ``has_<part>_<prop>::<value>`` of every value."""
        return [f'has_{self.cub_part}_{self.prop}::{v}' for v in self.values]


#: The discriminative attributes, in class-code order.
PART_ATTRIBUTES: Tuple[PartAttribute, ...] = (
    PartAttribute('crest', 'crown', 'color', tuple(_CREST_COLORS),
                  tuple(c.capitalize() + '_crested' for c in _CREST_COLORS),
                  ('crown', )),
    PartAttribute('wing', 'wing', 'pattern',
                  ('plain', 'single_bar', 'double_bar', 'spotted', 'dark_tip'),
                  ('Plain_winged', 'Bar_winged', 'Double_barred',
                   'Spot_winged', 'Dark_tipped'), ('wing', )),
    PartAttribute('beak', 'bill', 'shape',
                  ('cone', 'needle', 'hooked', 'decurved'),
                  ('Conebill', 'Needlebill', 'Hookbill', 'Sicklebill'),
                  ('beak', )),
    PartAttribute(
        'tail', 'tail', 'pattern',
        ('plain', 'white_tip', 'dark_band', 'spotted'),
        ('Plain_tailed', 'White_tipped', 'Band_tailed', 'Spot_tailed'),
        ('tail', )),
    PartAttribute('eye_ring', 'eye_ring', 'color', ('none', 'white', 'red'),
                  ('Bare_eyed', 'White_eyed', 'Red_eyed'), ('eye', )),
    PartAttribute('breast', 'breast', 'pattern',
                  ('solid', 'spotted', 'streaked'),
                  ('Plain_breasted', 'Spot_breasted', 'Streak_breasted'),
                  ('breast', )),
)

ATTRIBUTE_BY_NAME: Dict[str, PartAttribute] = {
    a.name: a
    for a in PART_ATTRIBUTES
}

#: RGB colour of each crest value (also the palette of distractor blobs).
CREST_COLORS = _CREST_COLORS


@dataclass(frozen=True)
class DifficultyConfig:
    """How hard a SynthBirds variant is.

    Args:
        name (str): ``'easy'``, ``'medium'`` or ``'hard'``.
        description (str): one line for README/CLI.
        attribute_values (tuple): ``((attribute, (value, ...)), ...)``: the
            attributes classes differ in and the values they use; any
            attribute not listed is fixed to its neutral value.
        min_class_distance (int): every pair of classes differs in at least
            this many attributes.
        max_classes (int): largest ``num_classes`` allowed.
        bird_length (tuple[float, float]): range of the bird's length (tail
            tip to the longest beak tip) as a fraction of the image size.
        max_rotation (float): in-plane rotation is uniform in
            ``[-max_rotation, max_rotation]`` degrees.
        part_scale (float): size multiplier of the discriminative marks
            (crest, bars, spots, bands, beak, eye ring).
        num_clutter (tuple[int, int]): inclusive range of background shapes.
        num_distractors (tuple[int, int]): inclusive range of background
            blobs painted in part colours.
        texture_strength (float): amplitude (grey levels) of background
            texture.
        noise_std (float): std of per-pixel Gaussian noise (grey levels).
        color_jitter (float): per-channel gain is uniform in
            ``[1 - color_jitter, 1 + color_jitter]``.
        occluder_prob (float): probability of a foreground leaf/twig that
            may hide parts of the bird.
    """

    name: str
    description: str
    attribute_values: Tuple[Tuple[str, Tuple[str, ...]], ...]
    min_class_distance: int
    max_classes: int
    bird_length: Tuple[float, float]
    max_rotation: float
    part_scale: float
    num_clutter: Tuple[int, int]
    num_distractors: Tuple[int, int]
    texture_strength: float
    noise_std: float
    color_jitter: float
    occluder_prob: float

    def values_of(self, attribute: str) -> Tuple[str, ...]:
        """Values class codes use for ``attribute`` (neutral one if unused).

        Args:
            attribute (str): a name from :data:`PART_ATTRIBUTES`.

        Returns:
            tuple[str]: the values.
        """
        for name, values in self.attribute_values:
            if name == attribute:
                return values
        return (ATTRIBUTE_BY_NAME[attribute].values[0], )

    @property
    def active_attributes(self) -> Tuple[str, ...]:
        """Names of the attributes classes differ in."""
        return tuple(name for name, _ in self.attribute_values)


_ALL_CRESTS = tuple(_CREST_COLORS)
_WINGS = ATTRIBUTE_BY_NAME['wing'].values
_BEAKS = ATTRIBUTE_BY_NAME['beak'].values
_TAILS = ATTRIBUTE_BY_NAME['tail'].values

#: The predefined difficulties.
DIFFICULTIES: Dict[str, DifficultyConfig] = {
    'easy':
    DifficultyConfig(
        name='easy',
        description='4 part attributes (crest colour, wing bars, beak '
        'shape, tail mark), large parts, little clutter, mild pose changes',
        attribute_values=(('crest', _ALL_CRESTS[:6]), ('wing', _WINGS),
                          ('beak', _BEAKS), ('tail', _TAILS)),
        min_class_distance=2,
        max_classes=50,
        bird_length=(0.72, 0.9),
        max_rotation=10.0,
        part_scale=1.25,
        num_clutter=(3, 6),
        num_distractors=(1, 2),
        texture_strength=12.0,
        noise_std=3.0,
        color_jitter=0.06,
        occluder_prob=0.0),
    'medium':
    DifficultyConfig(
        name='medium',
        description='6 part attributes (adds eye ring and breast pattern), '
        'smaller birds and parts, more clutter and pose variation',
        attribute_values=(('crest', _ALL_CRESTS[:7]), ('wing', _WINGS),
                          ('beak', _BEAKS), ('tail', _TAILS),
                          ('eye_ring', ATTRIBUTE_BY_NAME['eye_ring'].values),
                          ('breast', ATTRIBUTE_BY_NAME['breast'].values)),
        min_class_distance=2,
        max_classes=200,
        bird_length=(0.55, 0.88),
        max_rotation=20.0,
        part_scale=1.05,
        num_clutter=(6, 12),
        num_distractors=(2, 4),
        texture_strength=20.0,
        noise_std=5.0,
        color_jitter=0.1,
        occluder_prob=0.15),
    'hard':
    DifficultyConfig(
        name='hard',
        description='6 part attributes, 9 crest colours, classes may differ '
        'in one part only, small birds and parts, heavy clutter, '
        'occluders, strong pose variation',
        attribute_values=(('crest', _ALL_CRESTS), ('wing', _WINGS),
                          ('beak', _BEAKS), ('tail', _TAILS),
                          ('eye_ring', ATTRIBUTE_BY_NAME['eye_ring'].values),
                          ('breast', ATTRIBUTE_BY_NAME['breast'].values)),
        min_class_distance=1,
        max_classes=999,
        bird_length=(0.4, 0.85),
        max_rotation=30.0,
        part_scale=0.85,
        num_clutter=(10, 20),
        num_distractors=(4, 8),
        texture_strength=28.0,
        noise_std=7.0,
        color_jitter=0.14,
        occluder_prob=0.3),
}


def get_difficulty(difficulty: str) -> DifficultyConfig:
    """Look up a difficulty by name.

    Args:
        difficulty (str): a key of :data:`DIFFICULTIES`.

    Returns:
        DifficultyConfig: the configuration.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(
            f'Unknown SynthBirds difficulty {difficulty!r}; choose one of '
            f'{sorted(DIFFICULTIES)}.')
    return DIFFICULTIES[difficulty]


# Fixed seed of the class-code search: class definitions depend only on the
# difficulty (and are prefix-stable in ``num_classes``), never on the image
# seed.
_CODE_SEED = 20111


@lru_cache(maxsize=None)
def _code_sequence(difficulty: str) -> Tuple[np.ndarray, np.ndarray]:
    """Farthest-point ordering of all attribute combinations.

    Returns:
        tuple: ``codes`` int64 ``(K, len(PART_ATTRIBUTES))`` value indices
        (into each attribute's full ``values``) in selection order, and
        ``min_dist`` int64 ``(K,)``: ``min_dist[k]`` is the smallest
        Hamming distance between code ``k`` and codes ``0..k-1``
        (``min_dist[0]`` is the number of attributes).
    """
    cfg = get_difficulty(difficulty)
    per_attr = []
    for attr in PART_ATTRIBUTES:
        per_attr.append(
            np.array([attr.values.index(v) for v in cfg.values_of(attr.name)],
                     dtype=np.int64))
    grids = np.meshgrid(*per_attr, indexing='ij')
    cand = np.stack([g.ravel() for g in grids], axis=1)
    rng = np.random.default_rng(_CODE_SEED)
    cand = cand[rng.permutation(len(cand))]
    n = min(len(cand), cfg.max_classes)
    chosen = np.empty(n, dtype=np.int64)
    min_dist = np.empty(n, dtype=np.int64)
    # Distance of every candidate to the chosen set (initially "infinite").
    dist = np.full(len(cand), len(PART_ATTRIBUTES) + 1, dtype=np.int64)
    active = np.zeros(len(cand), dtype=bool)
    idx = 0
    for k in range(n):
        chosen[k] = idx
        min_dist[k] = min(dist[idx], len(PART_ATTRIBUTES))
        active[idx] = True
        dist = np.minimum(dist, (cand != cand[idx]).sum(axis=1))
        dist_masked = np.where(active, -1, dist)
        # argmax returns the first maximum: ties break by the fixed shuffle.
        idx = int(np.argmax(dist_masked))
    return cand[chosen], min_dist


def class_codes(num_classes: int, difficulty: str) -> np.ndarray:
    """Attribute value indices of the first ``num_classes`` classes.

    Args:
        num_classes (int): number of classes, ``1 <= num_classes <=
            DIFFICULTIES[difficulty].max_classes``.
        difficulty (str): a key of :data:`DIFFICULTIES`.

    Returns:
        np.ndarray: int64 ``(num_classes, len(PART_ATTRIBUTES))``; entry
        ``[c, a]`` indexes ``PART_ATTRIBUTES[a].values``.

    Raises:
        ValueError: ``num_classes`` out of range for the difficulty.
    """
    cfg = get_difficulty(difficulty)
    codes, min_dist = _code_sequence(difficulty)
    limit = min(cfg.max_classes, len(codes))
    if not 1 <= num_classes <= limit:
        raise ValueError(
            f'SynthBirds difficulty {difficulty!r} supports 1..{limit} '
            f'classes, got num_classes={num_classes}. Use a harder '
            f'difficulty for more classes.')
    if num_classes > 1 and min_dist[1:num_classes].min() < \
            cfg.min_class_distance:
        raise ValueError(
            f'SynthBirds difficulty {difficulty!r} cannot keep classes '
            f'{cfg.min_class_distance} attributes apart with '
            f'{num_classes} classes; use fewer classes or a harder '
            'difficulty.')
    return codes[:num_classes].copy()


def class_definitions(num_classes: int,
                      difficulty: str) -> List[Dict[str, str]]:
    """Readable class definitions: attribute name -> value, per class.

    Args:
        num_classes (int): number of classes.
        difficulty (str): a key of :data:`DIFFICULTIES`.

    Returns:
        list[dict[str, str]]: one dict per class (0-based class order) with
        every attribute of :data:`PART_ATTRIBUTES`.
    """
    return [{
        attr.name: attr.values[int(i)]
        for attr, i in zip(PART_ATTRIBUTES, code)
    } for code in class_codes(num_classes, difficulty)]


def class_name(code: Sequence[int], difficulty: str) -> str:
    """CUB-style class name (without the ``NNN.`` prefix) of a class code.

    Only the attributes the difficulty varies appear in the name, so names
    are unique among the classes of one difficulty.

    Args:
        code (Sequence[int]): value index per attribute.
        difficulty (str): a key of :data:`DIFFICULTIES`.

    Returns:
        str: e.g. ``'Red_crested_Bar_winged_White_tipped_Hookbill'``.
    """
    cfg = get_difficulty(difficulty)
    words = {
        attr.name: attr.words[int(i)]
        for attr, i in zip(PART_ATTRIBUTES, code)
    }
    order = ['crest', 'eye_ring', 'breast', 'wing', 'tail', 'beak']
    return '_'.join(words[name] for name in order
                    if name in cfg.active_attributes)


def attribute_vocabulary() -> List[Tuple[str, int, str]]:
    """All attributes of ``attributes/attributes.txt``, in file order.

    Returns:
        list[tuple[str, int, str]]: ``(attribute name, value index, CUB-style
        name)``; the 1-based attribute id is the list index + 1.
    """
    vocab = []
    for attr in PART_ATTRIBUTES:
        for i, cub in enumerate(attr.cub_names()):
            vocab.append((attr.name, i, cub))
    return vocab

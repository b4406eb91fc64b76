"""Which dataset attributes supervise which concepts of a concept transformer.

A :class:`ConceptMapping` says, for the attribute vector a dataset packs
into every ``DataSample`` (the ``attributes`` field, ``(A,)`` 0/1), which
attributes are *global* concepts (one per attribute, supervised on the
image) and which are *spatial* concepts (one per attribute, supervised on
the patches that hold a visible keypoint of the attribute's parts), and it
turns a batch of attributes (and part keypoints) into the normalised
attention targets of the explanation loss.

Presets (``build_concept_mapping('<name>')``):

- ``'cub_cbm112'`` (default for CUB): the 112 attributes kept by Concept
  Bottleneck Models (present in at least 45 % of a class's images, for at
  least 8 classes), of CUB's 312. Those that describe the whole bird
  (``has_size``, ``has_shape``, ``has_primary_color``) are global concepts;
  the others are spatial concepts located by their part keypoints
  (``has_wing_color`` by the left and right wing, ...).
- ``'cub_ct108'``: the 108 attributes the official CT / CCT code keeps
  (13 global + 95 spatial, the concept counts of its CUB models).
- ``'cub312'``: the same split over all 312 attributes (34 global, 278
  spatial).
- ``'synthbirds'``: SynthBirds' 28 part attributes (6 part attributes, all
  their values), each both a global and a spatial concept.

Or give the lists yourself::

    concept_mapping = dict(num_attributes=312,
                           global_attributes=[217, 218],      # 0-based
                           spatial_attributes=[0, 1],
                           spatial_parts=[[1], [1]])          # 0-based parts
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from mmfg.utils.errors import ConfigError

__all__ = [
    'ConceptMapping', 'build_concept_mapping', 'CONCEPT_MAPPING_PRESETS',
    'CUB_ATTRIBUTE_GROUPS', 'CUB_CBM_ATTRIBUTES',
    'CUB_CT_ATTRIBUTE_IDS'
]

# CUB-200-2011 parts (parts/parts.txt), 0-based here.
_CUB_PARTS = ('back', 'beak', 'belly', 'breast', 'crown', 'forehead',
              'left eye', 'left leg', 'left wing', 'nape', 'right eye',
              'right leg', 'right wing', 'tail', 'throat')
_P = {name: i for i, name in enumerate(_CUB_PARTS)}

#: CUB's 28 attribute groups: ``(name, first id, last id, parts)`` with
#: 1-based ids of ``attributes.txt`` and the 0-based part indices whose
#: keypoints locate the group (empty: a global, whole-bird attribute).
CUB_ATTRIBUTE_GROUPS: Tuple[Tuple[str, int, int, Tuple[int, ...]], ...] = (
    ('has_bill_shape', 1, 9, (_P['beak'], )),
    ('has_wing_color', 10, 24, (_P['left wing'], _P['right wing'])),
    ('has_upperparts_color', 25, 39, (_P['back'], _P['nape'])),
    ('has_underparts_color', 40, 54,
     (_P['belly'], _P['breast'], _P['throat'])),
    ('has_breast_pattern', 55, 58, (_P['breast'], )),
    ('has_back_color', 59, 73, (_P['back'], )),
    ('has_tail_shape', 74, 79, (_P['tail'], )),
    ('has_upper_tail_color', 80, 94, (_P['tail'], )),
    ('has_head_pattern', 95, 105, (_P['crown'], )),
    ('has_breast_color', 106, 120, (_P['breast'], )),
    ('has_throat_color', 121, 135, (_P['throat'], )),
    ('has_eye_color', 136, 149, (_P['left eye'], _P['right eye'])),
    ('has_bill_length', 150, 152, (_P['beak'], )),
    ('has_forehead_color', 153, 167, (_P['forehead'], )),
    ('has_under_tail_color', 168, 182, (_P['tail'], )),
    ('has_nape_color', 183, 197, (_P['nape'], )),
    ('has_belly_color', 198, 212, (_P['belly'], )),
    ('has_wing_shape', 213, 217, (_P['left wing'], _P['right wing'])),
    ('has_size', 218, 222, ()),
    ('has_shape', 223, 236, ()),
    ('has_back_pattern', 237, 240, (_P['back'], )),
    ('has_tail_pattern', 241, 244, (_P['tail'], )),
    ('has_belly_pattern', 245, 248, (_P['belly'], )),
    ('has_primary_color', 249, 263, ()),
    ('has_leg_color', 264, 278, (_P['left leg'], _P['right leg'])),
    ('has_bill_color', 279, 293, (_P['beak'], )),
    ('has_crown_color', 294, 308, (_P['crown'], )),
    ('has_wing_pattern', 309, 312, (_P['left wing'], _P['right wing'])),
)

#: The 112 CUB attributes (0-based indices into the 312) of Concept
#: Bottleneck Models (Koh et al., ICML 2020): the ones present in at least
#: 45 % of a class's images for at least 8 classes.
CUB_CBM_ATTRIBUTES: Tuple[int, ...] = (
    1, 4, 6, 7, 10, 14, 15, 20, 21, 23, 25, 29, 30, 35, 36, 38, 40, 44, 45,
    50, 51, 53, 54, 56, 57, 59, 63, 64, 69, 70, 72, 75, 80, 84, 90, 91, 93,
    99, 101, 106, 110, 111, 116, 117, 119, 125, 126, 131, 132, 134, 145, 149,
    151, 152, 153, 157, 158, 163, 164, 168, 172, 178, 179, 181, 183, 187,
    188, 193, 194, 196, 198, 202, 203, 208, 209, 211, 212, 213, 218, 220,
    221, 225, 235, 236, 238, 239, 240, 242, 243, 244, 249, 253, 254, 259,
    260, 262, 268, 274, 277, 283, 289, 292, 293, 294, 298, 299, 304, 305,
    308, 309, 310, 311)

#: The 108 CUB attribute ids (1-based) the official Concept Transformer /
#: CCT code keeps (its CUB models have 13 global and 95 spatial concepts).
CUB_CT_ATTRIBUTE_IDS: Tuple[int, ...] = (
    2, 5, 7, 8, 11, 15, 16, 21, 22, 24, 25, 26, 30, 31, 36, 37, 39, 41, 45,
    46, 51, 52, 54, 55, 57, 58, 60, 64, 70, 71, 73, 76, 81, 91, 92, 102, 105,
    107, 111, 112, 117, 118, 120, 126, 127, 132, 133, 135, 146, 150, 152,
    153, 154, 158, 159, 164, 165, 166, 169, 173, 179, 180, 183, 184, 188,
    189, 194, 195, 197, 203, 204, 209, 210, 212, 219, 221, 222, 226, 228,
    236, 237, 239, 241, 244, 245, 249, 250, 254, 255, 260, 261, 263, 269,
    275, 278, 284, 290, 293, 294, 295, 299, 300, 305, 306, 307, 309, 311,
    312)


@dataclass(frozen=True)
class ConceptMapping:
    """Attribute → concept assignment and target construction.

    Args:
        num_attributes (int): length ``A`` of the data's attribute vector.
        global_attributes (tuple[int]): 0-based attribute index of each
            global concept (``G`` of them).
        spatial_attributes (tuple[int]): 0-based attribute index of each
            spatial concept (``S``).
        spatial_parts (tuple[tuple[int]]): per spatial concept, the 0-based
            part indices (rows of ``gt_parts``) that locate it.
        names (tuple[str], optional): ``A`` attribute names.
        preset (str, optional): the preset it came from.
    """

    num_attributes: int
    global_attributes: Tuple[int, ...]
    spatial_attributes: Tuple[int, ...]
    spatial_parts: Tuple[Tuple[int, ...], ...]
    names: Optional[Tuple[str, ...]] = None
    preset: Optional[str] = None

    def __post_init__(self):
        where = f'concept_mapping{f" ({self.preset})" if self.preset else ""}'
        if len(self.spatial_parts) != len(self.spatial_attributes):
            raise ConfigError(
                f'{where}: spatial_parts has {len(self.spatial_parts)} '
                f'entries but spatial_attributes has '
                f'{len(self.spatial_attributes)}; give one part list per '
                'spatial attribute.')
        for key in ('global_attributes', 'spatial_attributes'):
            bad = [
                i for i in getattr(self, key)
                if not 0 <= i < self.num_attributes
            ]
            if bad:
                raise ConfigError(
                    f'{where}: {key} {bad[:5]} out of range for '
                    f'num_attributes={self.num_attributes} (indices are '
                    '0-based).')
        if self.names is not None and len(self.names) != self.num_attributes:
            raise ConfigError(
                f'{where}: {len(self.names)} names for '
                f'{self.num_attributes} attributes.')

    @property
    def num_global(self) -> int:
        """Number of global concepts ``G``."""
        return len(self.global_attributes)

    @property
    def num_spatial(self) -> int:
        """Number of spatial concepts ``S``."""
        return len(self.spatial_attributes)

    @property
    def num_parts(self) -> int:
        """Rows ``gt_parts`` must have (1 + the largest part index)."""
        parts = [p for ps in self.spatial_parts for p in ps]
        return max(parts) + 1 if parts else 0

    def concept_names(self, attribute_names: Optional[Sequence[str]] = None
                      ) -> Dict[str, list]:
        """Names of the global and spatial concepts.

        Args:
            attribute_names (Sequence[str], optional): the dataset's
                attribute names (``metainfo['attribute_names']``); defaults
                to the mapping's own names, else ``'attr<i>'``.

        Returns:
            dict: ``global`` and ``spatial`` lists of names.
        """
        names = attribute_names if attribute_names is not None and len(
            attribute_names) == self.num_attributes else self.names

        def name(i: int) -> str:
            return str(names[i]) if names is not None else f'attr{i}'

        return {
            'global': [name(i) for i in self.global_attributes],
            'spatial': [name(i) for i in self.spatial_attributes]
        }

    def check_attributes(self, attributes: Tensor, owner: str) -> None:
        """Raise a :class:`ConfigError` when the attribute size is wrong."""
        if attributes.shape[-1] != self.num_attributes:
            raise ConfigError(
                f'{owner}: the data has {attributes.shape[-1]} attributes per '
                f'image but concept_mapping'
                f'{f"={self.preset!r}" if self.preset else ""} expects '
                f'{self.num_attributes}. Use the mapping of your dataset '
                "('cub_cbm112' or 'cub312' for CUB's 312 attributes, "
                "'synthbirds' for SynthBirds' 28) or give "
                'concept_mapping=dict(num_attributes=..., '
                'global_attributes=..., spatial_attributes=..., '
                'spatial_parts=...).')

    def global_targets(self, attributes: Tensor) -> Tuple[Tensor, Tensor]:
        """Normalised global-concept targets.

        Args:
            attributes (Tensor): ``(B, A)`` 0/1.

        Returns:
            tuple: ``target (B, G)`` (rows sum to 1 where valid) and ``valid
            (B,)`` bool (images with at least one global attribute).
        """
        idx = torch.as_tensor(self.global_attributes, device=attributes.device)
        t = attributes.float().index_select(1, idx)
        total = t.sum(-1, keepdim=True)
        return t / total.clamp_min(1e-12), total.squeeze(-1) > 0

    def part_concept_matrix(self, device=None) -> Tensor:
        """``(P, S)`` float: part ``p`` locates spatial concept ``s``."""
        rows = [p for parts in self.spatial_parts for p in parts]
        cols = [s for s, parts in enumerate(self.spatial_parts) for _ in parts]
        m = torch.zeros(max(self.num_parts, 1), self.num_spatial,
                        device=device)
        if rows:
            m[torch.tensor(rows, device=device),
              torch.tensor(cols, device=device)] = 1.
        return m

    def spatial_targets(self, attributes: Tensor, parts: Tensor,
                        grid: Tuple[int, int],
                        img_hw: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """Normalised per-patch spatial-concept targets.

        Patch ``n`` targets spatial concept ``s`` when the image has the
        attribute of ``s`` and a visible keypoint of one of its parts lies
        in the patch. Each patch's row is normalised to sum 1; patches with
        no such attribute are not supervised (``valid`` False).

        Args:
            attributes (Tensor): ``(B, A)`` 0/1.
            parts (Tensor): ``(B, P, 3)`` keypoints ``x, y, visible`` in the
                pixels of the input tensor.
            grid (tuple[int, int]): patch grid ``(h, w)``, ``N = h * w``.
            img_hw (tuple[int, int]): input size ``(H, W)``.

        Returns:
            tuple: ``target (B, N, S)`` and ``valid (B, N)`` bool.
        """
        B = attributes.shape[0]
        h, w = grid
        H, W = img_hw
        n_tok = h * w
        if parts.shape[1] < self.num_parts:
            raise ConfigError(
                f'concept_mapping uses part index {self.num_parts - 1} but '
                f'gt_parts has {parts.shape[1]} rows.')
        parts = parts[:, :self.num_parts].float()
        col = torch.floor(parts[..., 0] * w / W).long()
        row = torch.floor(parts[..., 1] * h / H).long()
        ok = (parts[..., 2] > 0) & (col >= 0) & (col < w) & (row >= 0) & (
            row < h)
        cell = torch.where(ok, row * w + col, torch.full_like(col, n_tok))
        onehot = F.one_hot(cell, n_tok + 1)[..., :n_tok].float()  # (B, P, N)
        m = self.part_concept_matrix(attributes.device)[:self.num_parts]
        hit = torch.matmul(onehot.transpose(1, 2), m) > 0  # (B, N, S)
        idx = torch.as_tensor(
            self.spatial_attributes, device=attributes.device)
        present = attributes.float().index_select(1, idx)  # (B, S)
        t = hit.float() * present[:, None, :]
        total = t.sum(-1, keepdim=True)
        target = t / total.clamp_min(1e-12)
        return target.view(B, n_tok, -1), total.squeeze(-1) > 0


def _cub_mapping(ids: Sequence[int], preset: str) -> ConceptMapping:
    glob, spat, parts = [], [], []
    for aid in ids:
        group = next(g for g in CUB_ATTRIBUTE_GROUPS if g[1] <= aid <= g[2])
        if group[3]:
            spat.append(aid - 1)
            parts.append(group[3])
        else:
            glob.append(aid - 1)
    names = []
    for name, lo, hi, _ in CUB_ATTRIBUTE_GROUPS:
        names += [f'{name}::{i - lo + 1}' for i in range(lo, hi + 1)]
    return ConceptMapping(312, tuple(glob), tuple(spat), tuple(parts),
                          tuple(names), preset)


def _synthbirds_mapping() -> ConceptMapping:
    from mmfg.datasets.synth.spec import PART_ATTRIBUTES, PART_NAMES
    pos = {name: i for i, name in enumerate(PART_NAMES)}
    names, parts = [], []
    for attr in PART_ATTRIBUTES:
        located = []
        for p in attr.parts:  # 'eye' / 'wing' stand for left and right
            located += [pos[p]] if p in pos else [
                pos[f'left {p}'], pos[f'right {p}']
            ]
        names += attr.cub_names()
        parts += [tuple(located)] * len(attr.values)
    idx = tuple(range(len(names)))
    return ConceptMapping(
        len(names), idx, idx, tuple(parts), tuple(names), 'synthbirds')


CONCEPT_MAPPING_PRESETS = {
    'cub_cbm112':
    lambda: _cub_mapping([i + 1 for i in CUB_CBM_ATTRIBUTES], 'cub_cbm112'),
    'cub_ct108': lambda: _cub_mapping(CUB_CT_ATTRIBUTE_IDS, 'cub_ct108'),
    'cub312': lambda: _cub_mapping(range(1, 313), 'cub312'),
    'synthbirds': _synthbirds_mapping,
}


def build_concept_mapping(
        cfg: Union[str, dict, ConceptMapping]) -> ConceptMapping:
    """A :class:`ConceptMapping` from a preset name, a dict or itself.

    Args:
        cfg (str | dict | ConceptMapping): a name of
            :data:`CONCEPT_MAPPING_PRESETS`, or the fields of
            :class:`ConceptMapping`.

    Raises:
        ConfigError: an unknown preset or inconsistent fields.
    """
    if isinstance(cfg, ConceptMapping):
        return cfg
    if isinstance(cfg, str):
        if cfg not in CONCEPT_MAPPING_PRESETS:
            raise ConfigError(
                f'concept_mapping={cfg!r} is not a preset; choose one of '
                f'{sorted(CONCEPT_MAPPING_PRESETS)} or give a dict.')
        return CONCEPT_MAPPING_PRESETS[cfg]()
    if isinstance(cfg, dict):
        cfg = dict(cfg)
        try:
            return ConceptMapping(
                num_attributes=int(cfg.pop('num_attributes')),
                global_attributes=tuple(cfg.pop('global_attributes', ())),
                spatial_attributes=tuple(cfg.pop('spatial_attributes', ())),
                spatial_parts=tuple(
                    tuple(p) for p in cfg.pop('spatial_parts', ())),
                names=tuple(cfg['names']) if cfg.get('names') else None,
                preset=None)
        except KeyError as e:
            raise ConfigError(
                f'concept_mapping dict needs {e}; see '
                'mmfg.models.utils.concept_mapping.') from None
    raise ConfigError(
        f'concept_mapping must be a preset name or a dict, got {cfg!r}')

"""Attribute -> concept mapping: presets, hand-checked targets, errors."""
import pytest
import torch

from mmfg.models.utils import ConceptMapping, build_concept_mapping
from mmfg.utils.errors import ConfigError


def test_presets_sizes():
    cbm = build_concept_mapping('cub_cbm112')
    assert cbm.num_attributes == 312
    assert cbm.num_global + cbm.num_spatial == 112
    ct = build_concept_mapping('cub_ct108')
    # the concept counts of the official CT / CCT CUB models
    assert (ct.num_global, ct.num_spatial) == (13, 95)
    full = build_concept_mapping('cub312')
    # has_size (5) + has_shape (14) + has_primary_color (15)
    assert full.num_global == 34 and full.num_spatial == 278
    assert full.names[217] == 'has_size::1'
    # has_wing_color (ids 10..24) is located by both wings (parts 8, 12)
    assert full.spatial_parts[full.spatial_attributes.index(9)] == (8, 12)
    sb = build_concept_mapping('synthbirds')
    assert sb.num_attributes == 28 and sb.num_global == sb.num_spatial == 28
    assert sb.names[0] == 'has_crown_color::red'
    assert sb.spatial_parts[0] == (4, )  # crown


def test_global_targets_hand_computed():
    m = ConceptMapping(5, (0, 2, 4), (), ())
    attrs = torch.tensor([[1., 1., 1., 0., 0.], [0., 1., 0., 1., 0.]])
    t, valid = m.global_targets(attrs)
    assert torch.allclose(t, torch.tensor([[.5, .5, 0.], [0., 0., 0.]]))
    assert valid.tolist() == [True, False]


def test_spatial_targets_hand_computed():
    # 2 spatial concepts: attribute 0 on part 0, attribute 1 on parts 0, 1
    m = ConceptMapping(3, (), (0, 1), ((0, ), (0, 1)))
    attrs = torch.tensor([[1., 1., 0.]])
    # 2x2 grid over a 20x20 input: part 0 at (15, 3) -> patch 1,
    # part 1 at (4, 12) -> patch 2; a third invisible part is ignored
    parts = torch.tensor([[[15., 3., 1.], [4., 12., 1.], [1., 1., 0.]]])
    t, valid = m.spatial_targets(attrs, parts, (2, 2), (20, 20))
    expect = torch.zeros(1, 4, 2)
    expect[0, 1] = torch.tensor([.5, .5])
    expect[0, 2] = torch.tensor([0., 1.])
    assert torch.allclose(t, expect)
    assert valid.tolist() == [[False, True, True, False]]
    # an absent attribute leaves its parts' patches unsupervised
    t, valid = m.spatial_targets(
        torch.tensor([[0., 1., 0.]]), parts, (2, 2), (20, 20))
    assert torch.allclose(t[0, 1], torch.tensor([0., 1.]))
    # invisible / outside parts give no target
    parts[..., 2] = 0
    _, valid = m.spatial_targets(attrs, parts, (2, 2), (20, 20))
    assert not valid.any()


def test_mapping_errors():
    m = build_concept_mapping('synthbirds')
    with pytest.raises(ConfigError, match='312 attributes per image.*28'):
        m.check_attributes(torch.zeros(2, 312), 'CCTHead')
    with pytest.raises(ConfigError, match='not a preset'):
        build_concept_mapping('cub113')
    with pytest.raises(ConfigError, match='out of range'):
        build_concept_mapping(
            dict(num_attributes=3, global_attributes=[3]))
    with pytest.raises(ConfigError, match='one part list'):
        build_concept_mapping(
            dict(num_attributes=3, spatial_attributes=[0, 1],
                 spatial_parts=[[0]]))
    with pytest.raises(ConfigError, match='num_attributes'):
        build_concept_mapping(dict(global_attributes=[0]))

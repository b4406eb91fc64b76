"""PackFGInputs: fields, dtypes, shapes, metainfo, and PackInputs parity."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.structures import DataSample

from mmfg.datasets.transforms import PackFGInputs
from mmfg.registry import TRANSFORMS


def _results(h=12, w=16):
    rng = np.random.RandomState(0)
    return dict(
        img=rng.randint(0, 256, (h, w, 3), np.uint8),
        img_path='/data/a.jpg',
        img_id=42,
        sample_idx=3,
        gt_label=5,
        ori_shape=(24, 32),
        img_shape=(h, w),
        scale_factor=(0.5, 0.5),
        flip=True,
        flip_direction='horizontal',
        trans_mat=np.diag([0.5, 0.5, 1.]),
        gt_bboxes=np.array([[1., 2., 8., 9.], [0, 0, 0, 0]], np.float32),
        gt_bboxes_valid=np.array([True, False]),
        gt_parts=np.array([[3., 4., 1.], [0., 0., 0.]], np.float32),
        gt_mask=(rng.rand(h, w) > 0.5).astype(np.uint8),
        attributes=np.array([0, 1, 1, 0], np.float32),
        meta=np.array([0.1, -0.2, 0.3], np.float64))


def _build(**kwargs):
    init_default_scope('mmfg')
    return TRANSFORMS.build(dict(type='PackFGInputs', **kwargs))


def test_pack_puts_every_field_with_dtype_and_shape():
    results = _results()
    packer = _build()
    assert type(packer) is PackFGInputs and isinstance(packer, PackInputs)
    packed = packer(dict(results))
    inputs, sample = packed['inputs'], packed['data_samples']
    assert isinstance(sample, DataSample)
    assert inputs.shape == (3, 12, 16) and inputs.dtype == torch.uint8
    assert torch.equal(
        inputs.permute(1, 2, 0), torch.from_numpy(results['img']))
    assert sample.gt_label.tolist() == [5]

    expected = {
        'gt_bboxes': (torch.float32, (2, 4)),
        'gt_bboxes_valid': (torch.bool, (2, )),
        'gt_parts': (torch.float32, (2, 3)),
        'gt_mask': (torch.uint8, (12, 16)),
        'attributes': (torch.float32, (4, )),
        'meta': (torch.float32, (3, )),
    }
    data_fields = set(sample.all_keys()) - set(sample.metainfo_keys())
    for key, (dtype, shape) in expected.items():
        assert key in data_fields, key
        value = getattr(sample, key)
        assert isinstance(value, torch.Tensor), key
        assert value.dtype == dtype and tuple(value.shape) == shape, key
        np.testing.assert_allclose(value.numpy(),
                                   results[key].astype(value.numpy().dtype),
                                   1e-6)

    meta = sample.metainfo
    for key in ('img_path', 'img_id', 'sample_idx', 'ori_shape', 'img_shape',
                'scale_factor', 'flip', 'flip_direction', 'trans_mat'):
        assert key in meta, key
    assert meta['img_id'] == 42 and meta['img_shape'] == (12, 16)
    assert meta['trans_mat'].dtype == np.float64
    np.testing.assert_array_equal(meta['trans_mat'], results['trans_mat'])
    # a DataSample moves its tensors with .to()
    assert sample.to('cpu').gt_parts.dtype == torch.float32


def test_pack_matches_pack_inputs_for_plain_classification():
    results = dict(
        img=np.random.RandomState(1).randint(0, 256, (5, 7, 3), np.uint8),
        gt_label=1,
        img_path='x.jpg',
        mask=np.ones((2, 2)))
    ref = PackInputs()(dict(results))
    got = _build()(dict(results))
    assert torch.equal(ref['inputs'], got['inputs'])
    assert torch.equal(ref['data_samples'].gt_label,
                       got['data_samples'].gt_label)
    assert torch.equal(ref['data_samples'].mask, got['data_samples'].mask)
    assert got['data_samples'].img_path == 'x.jpg'
    # grayscale and non-contiguous inputs are formatted as PackInputs does
    gray = dict(img=np.zeros((5, 7), np.uint8))
    assert _build()(gray)['inputs'].shape == (1, 5, 7)
    sliced = dict(img=np.zeros((5, 7, 3), np.uint8)[:, ::-1])
    assert _build()(sliced)['inputs'].shape == (3, 5, 7)


def test_pack_arguments():
    results = _results()
    packed = _build(
        input_key='img',
        algorithm_keys=('texts', ),
        meta_keys=('img_id', ),
        data_keys=('gt_parts', ))(
            dict(results, texts=['a bird']))
    sample = packed['data_samples']
    assert sample.texts == ['a bird']
    assert set(sample.metainfo_keys()) == {'img_id'}
    assert 'gt_parts' in sample and 'gt_bboxes' not in sample
    assert 'gt_mask' not in sample


def test_pack_computes_missing_box_validity_and_skips_absent_keys():
    results = _results()
    results.pop('gt_bboxes_valid')
    results.pop('meta')
    results['gt_bboxes'] = np.array([[1., 1., 5., 5.], [20., 0., 30., 5.]],
                                    np.float32)
    sample = _build()(results)['data_samples']
    assert sample.gt_bboxes_valid.tolist() == [True, False]
    assert 'meta' not in sample


def test_pack_meta_dict_and_errors():
    results = _results()
    results['meta'] = dict(loc=np.array([1., 2.]), hour=3)
    sample = _build()(dict(results))['data_samples']
    assert sample.meta['loc'].dtype == torch.float32
    assert sample.meta['hour'].tolist() == 3.0
    with pytest.raises(TypeError, match='meta'):
        _build()(dict(results, meta=object()))
    with pytest.raises(ValueError, match='gt_mask'):
        _build()(dict(results, gt_mask=np.zeros((3, 3), np.uint8)))
    assert 'data_keys' in repr(_build())

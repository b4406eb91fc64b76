"""The FSDP recipe of docs/multi_gpu.md builds: the FlexibleRunner strategy
of ``configs/metaformer/metaformer-2-fsdp_inat18-meta_384.py`` shards a
MetaFormer into FSDP units and gives the unsharded model's output and
gradients (one gloo process on the CPU; the config's own run needs GPUs,
where ``device_id`` is the local rank)."""
import copy
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FSDP_CFG = 'configs/metaformer/metaformer-2-fsdp_inat18-meta_384.py'


def test_fsdp_strategy_wraps_metaformer_and_matches_plain(tmp_path,
                                                          monkeypatch):
    import mmengine._strategy  # noqa: F401 (registers FSDPStrategy)
    from mmengine.model.wrappers import MMFullyShardedDataParallel
    from mmengine.registry import STRATEGIES
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    from mmfg.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, FSDP_CFG),
                          import_custom_modules=False)
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.auto_scale_lr.base_batch_size == 512
    strategy_cfg = copy.deepcopy(cfg.strategy.to_dict())
    wrapper = strategy_cfg['model_wrapper']
    assert wrapper['auto_wrap_policy']['min_num_params'] == int(5e6)
    # the same recipe on a tiny MetaFormer, on the CPU
    wrapper['auto_wrap_policy']['min_num_params'] = 20_000
    wrapper['device_id'] = 'cpu'
    wrapper.pop('mixed_precision')  # fp32 here: compare exactly
    tiny = Config.fromfile(
        osp.join(ROOT, 'configs/metaformer/metaformer-tiny_synthbirds-nometa'
                 '.py'), import_custom_modules=False)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmfg'):
        plain = MODELS.build(tiny.model)
    plain.init_weights()
    plain.eval()  # no drop-path: deterministic
    x = torch.randn(2, 3, 64, 64)
    ref = plain(x, mode='tensor')
    ref_grad = torch.autograd.grad(ref.sum(), plain.head.fc.weight)[0]

    monkeypatch.setenv('LOCAL_RANK', '0')  # torchrun sets it
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "pg"}', rank=0,
        world_size=1)
    try:
        strategy = STRATEGIES.build(strategy_cfg)
        model = strategy._wrap_model(copy.deepcopy(plain))
        assert isinstance(model, MMFullyShardedDataParallel)
        units = [m for m in model.modules() if isinstance(m, FSDP)]
        assert len(units) > 2  # sharded block by block, not as one unit
        out = model(x, mode='tensor')
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        out.sum().backward()
        grad = dict(model.named_parameters())[
            next(n for n, _ in model.named_parameters()
                 if n.endswith('head.fc.weight'))].grad
        torch.testing.assert_close(grad, ref_grad, atol=1e-5, rtol=1e-5)
    finally:
        dist.destroy_process_group()

"""ForgetMeLoRA: only the LoRA trains, LoRA-only checkpoints round-trip,
predict gives edited images, configs build, and a short Runner run."""
import os.path as osp

import pytest
import torch

pytest.importorskip('diffusers', reason='ForgetMe needs diffusers')
pytest.importorskip('peft', reason='ForgetMe needs peft')
pytest.importorskip('transformers', reason='ForgetMe needs transformers')
pytest.importorskip('tokenizers', reason='the tiny tokenizer needs tokenizers')

from mmengine.config import Config  # noqa: E402
from mmengine.optim import OptimWrapper  # noqa: E402
from mmengine.runner import checkpoint as mmckpt  # noqa: E402

from mmfg.registry import MODELS  # noqa: E402
from mmfg.utils.errors import ConfigError  # noqa: E402
from projects.forgetme.forgetme import ForgetMeLoRA  # noqa: E402

CFG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                   'configs')
TINY = dict(
    unet=dict(
        in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'),
        up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'),
        attention_head_dim=4, norm_num_groups=8),
    vae=dict(
        in_channels=3, out_channels=3, block_out_channels=(8, 16),
        down_block_types=('DownEncoderBlock2D', ) * 2,
        up_block_types=('UpDecoderBlock2D', ) * 2, latent_channels=4,
        layers_per_block=1, norm_num_groups=8),
    text_encoder=dict(hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2),
    tokenizer=dict(words=['a', 'photo'], model_max_length=8))


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return MODELS.build(
        dict(type='ForgetMeLoRA', components=TINY, lora_rank=2,
             num_inference_steps=4, **kw))


def _batch(n=2, size=16):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[
        torch.randint(0, 256, (3, size, size), generator=g,
                      dtype=torch.uint8) for _ in range(n)
    ])


def test_only_lora_trains():
    model = _model()
    assert isinstance(model, ForgetMeLoRA)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(ForgetMeLoRA.is_lora_key(n) for n in trainable)
    # rank 2 on to_q/k/v/out of every attention block
    a = [p for n, p in model.named_parameters() if 'lora_A' in n]
    assert a and all(p.shape[0] == 2 for p in a)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optim = OptimWrapper(
        torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-2))
    model.train()
    for _ in range(2):
        log = model.train_step(_batch(), optim)
    assert torch.isfinite(log['loss'])
    for n, p in model.named_parameters():
        changed = not torch.equal(before[n], p.detach())
        if 'lora_B' in n:
            assert changed, n
        elif not ForgetMeLoRA.is_lora_key(n):
            assert not changed, n
    assert not model.vae.training


def test_lora_checkpoint_roundtrip(tmp_path):
    model = _model(seed=0)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if 'lora_B' in n:
                p.normal_(0, 0.05)
    state = mmckpt.get_state_dict(model)
    assert state and all(ForgetMeLoRA.is_lora_key(k) for k in state)
    path = str(tmp_path / 'lora.pth')
    mmckpt.save_checkpoint({'state_dict': state}, path)
    other = _model(seed=0)  # same frozen base, fresh LoRA
    assert not torch.equal(other.edit(torch.zeros(1, 3, 16, 16)),
                           model.edit(torch.zeros(1, 3, 16, 16)))
    # strict: the frozen keys absent from the file are not "missing"
    mmckpt.load_checkpoint(other, path, strict=True)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.allclose(other.edit(x), model.edit(x), atol=1e-6)
    full = _model(save_lora_only=False)
    assert len(mmckpt.get_state_dict(full)) > len(state)


def test_predict_and_adapter_switch():
    model = _model().eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if 'lora_B' in n:
                p.fill_(0.1)
    out = model.test_step(_batch())
    img = out[0].pred_img
    assert tuple(img.shape) == (3, 16, 16)
    assert 0 <= img.min() and img.max() <= 1
    again = model.test_step(_batch())[0].pred_img
    assert torch.equal(img, again)  # seeded noise: deterministic
    model.adapter_enabled = False
    base = model.test_step(_batch())[0].pred_img
    assert not torch.equal(base, img)
    assert model.unet.active_adapters()  # re-enabled after the edit


def test_configs_build():
    tiny = Config.fromfile(osp.join(CFG_DIR,
                                    'forgetme_lora-tiny_synthbirds.py'))
    assert tiny.model.components and tiny.model.pretrained_model_path is None
    assert tiny.optim_wrapper.optimizer.type == 'AdamW'
    cfg = Config.fromfile(
        osp.join(CFG_DIR, 'forgetme_lora-sd14_synthbirds.py'))
    assert cfg.model.lora_rank == 4 and cfg.train_cfg.max_iters == 3000
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    model_cfg = dict(cfg.model, pretrained_model_path='/nonexistent/sd-v1-4')
    with pytest.raises(ConfigError, match='sd-v1-4'):
        MODELS.build(model_cfg)

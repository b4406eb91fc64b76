import pytest
import torch
from mmpretrain.structures import DataSample

from mmfg.models.selfsup.birdsat import (MetaEmbedding, gather_meta,
                                         pair_matching_batch)
from mmfg.registry import MODELS

ARCH = dict(embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=32)
META = dict(location=4, time=4)


def _dec(n, p):
    return dict(type='MAEPretrainDecoder', num_patches=n, patch_size=p,
                embed_dim=16, decoder_embed_dim=8, decoder_depth=1,
                decoder_num_heads=2)


def _head(p):
    return dict(type='MAEPretrainHead', norm_pix=True, patch_size=p,
                loss=dict(type='PixelReconstructionLoss', criterion='L2'))


def _samples(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ds = DataSample()
        ds.set_field(dict(location=torch.randn(4, generator=g),
                          time=torch.randn(4, generator=g)), 'meta')
        out.append(ds)
    return out


def test_meta_dropout_drops_whole_batch_with_right_frequency():
    emb = MetaEmbedding(8, META, drop_prob=0.25).train()
    meta = dict(location=torch.randn(5, 4), time=torch.randn(5, 4))
    torch.manual_seed(0)
    drops = [emb(meta) is None for _ in range(4000)]
    assert abs(sum(drops) / 4000 - 0.25) < 0.025  # 4 sigma ~ 0.027
    torch.manual_seed(0)
    again = [emb(meta) is None for _ in range(4000)]
    assert drops == again  # reproducible under a seed
    # a kept batch: every row gets its own Linear(loc) + Linear(time)
    torch.manual_seed(1)
    while (out := emb(meta)) is None:
        pass
    ref = emb.proj['location'](meta['location']) + emb.proj['time'](
        meta['time'])
    torch.testing.assert_close(out, ref)
    emb.eval()
    assert all(emb(meta) is not None for _ in range(50))  # never in eval


def test_meta_dropout_applies_to_the_class_token_of_the_whole_batch():
    vit = MODELS.build(dict(type='BirdSATViT', arch=ARCH, img_size=32,
                            patch_size=8, meta_dims=META,
                            meta_drop_prob=1.0))
    vit.init_weights()
    meta = dict(location=torch.randn(3, 4), time=torch.randn(3, 4))
    vit.train()
    dropped = vit.class_token(3, meta)
    base = (vit.cls_token + vit.pos_embed[:, :1]).expand(3, -1, -1)
    torch.testing.assert_close(dropped, base)  # all rows lose their meta
    vit.eval()
    kept = vit.class_token(3, meta)
    torch.testing.assert_close(kept - base,
                               vit.meta_embed(meta).unsqueeze(1))


def test_masking_ratio_of_ground_and_joint_encoders():
    torch.manual_seed(0)
    vit = MODELS.build(dict(type='BirdSATViT', arch=ARCH, img_size=32,
                            patch_size=4, mask_ratio=0.75))  # 64 patches
    latent, mask, ids = vit(torch.randn(2, 3, 32, 32))
    assert latent.shape == (2, 1 + 16, 16)
    assert mask.sum(1).tolist() == [48.0, 48.0]
    assert sorted(ids[0].tolist()) == list(range(64))
    joint = MODELS.build(dict(type='CVMMAEViT', arch=ARCH, img_size=32,
                              patch_size=4, sat_img_size=16,
                              sat_patch_size=4, mask_ratio=0.75))
    latent, (mg, ig), (ms, is_) = joint(
        torch.randn(2, 3, 32, 32), torch.randn(2, 3, 16, 16))
    assert mg.shape == (2, 64) and ms.shape == (2, 16)
    assert mg.sum(1).tolist() == [48.0, 48.0]
    assert ms.sum(1).tolist() == [12.0, 12.0]
    assert latent.shape == (2, 1 + 16 + 4, 16)
    # independent masks per sample
    assert not torch.equal(mg[0], mg[1])


def test_pair_matching_labels():
    g = torch.Generator().manual_seed(0)
    for batch in (2, 5, 8):
        perm, labels = pair_matching_batch(batch, 0.5, generator=g)
        assert labels.sum().item() == batch - round(batch * 0.5)
        pos = labels.bool()
        assert torch.equal(perm[pos], torch.arange(batch)[pos])
        assert (perm[~pos] != torch.arange(batch)[~pos]).all()
        assert perm.min() >= 0 and perm.max() < batch
    perm, labels = pair_matching_batch(1, 0.5)
    assert perm.tolist() == [0] and labels.tolist() == [1.0]


def test_ground_encoder_loads_into_vision_transformer_identically():
    """The fine-tuning key mapping: ``backbone.*`` of a BirdSAT checkpoint is
    a VisionTransformer state dict (plus meta_embed.* to ignore)."""
    vit = MODELS.build(dict(type='BirdSATViT', arch=ARCH, img_size=32,
                            patch_size=8, out_type='cls_token',
                            meta_dims=META))
    vit.init_weights()
    vit.eval()
    plain = MODELS.build(dict(type='VisionTransformer', arch=ARCH,
                              img_size=32, patch_size=8,
                              out_type='cls_token'))
    plain.eval()
    missing, unexpected = plain.load_state_dict(vit.state_dict(),
                                                strict=False)
    assert missing == []
    assert sorted(unexpected) == sorted(
        k for k in vit.state_dict() if k.startswith('meta_embed.'))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit(x, mask=None)[0], plain(x)[0])


@pytest.mark.parametrize('kind', ['CVEMAE', 'CVMMAE'])
def test_algorithms_loss_backward_predict(kind):
    torch.manual_seed(0)
    if kind == 'CVEMAE':
        cfg = dict(
            type='CVEMAE',
            backbone=dict(type='BirdSATViT', arch=ARCH, img_size=32,
                          patch_size=8, meta_dims=META,
                          out_type='cls_token'),
            neck=_dec(16, 8), head=_head(8),
            sat_backbone=dict(type='VisionTransformer', arch=ARCH,
                              img_size=16, patch_size=8,
                              out_type='cls_token'),
            contrastive_loss=dict(type='InfoNCELoss', temperature=0.1))
        keys = {'loss_rec', 'loss_contrastive'}
    else:
        cfg = dict(
            type='CVMMAE',
            backbone=dict(type='CVMMAEViT', arch=ARCH, img_size=32,
                          patch_size=8, sat_img_size=16, sat_patch_size=8,
                          meta_dims=META),
            neck=_dec(16, 8), head=_head(8), sat_neck=_dec(4, 8),
            sat_head=_head(8))
        keys = {'loss_rec_ground', 'loss_rec_sat', 'loss_match'}
    model = MODELS.build(cfg)
    model.init_weights()
    views = [torch.randn(4, 3, 32, 32), torch.randn(4, 3, 16, 16)]
    losses = model(views, _samples(4), mode='loss')
    assert set(losses) == keys
    sum(losses.values()).backward()
    assert model.backbone.patch_embed.projection.weight.grad is not None
    model.eval()
    out = model(views, _samples(4), mode='predict')
    assert out[0].ground_embedding.shape == (16, )
    assert out[0].overhead_embedding.shape == (16, )
    feats = model(views[0], mode='tensor')
    assert feats[0].shape == (4, 16)
    if kind == 'CVEMAE':
        # contrastive term = 0.3 * InfoNCE of the (masked) class tokens:
        # with a zero weight only the reconstruction remains
        model.contrastive_weight = 0.0
        model.train()
        assert model(views, _samples(4), mode='loss')[
            'loss_contrastive'].item() == 0.0


def test_gather_meta_errors():
    assert gather_meta(None, ['location'], 'cpu') is None
    assert gather_meta([DataSample()], ['location'], 'cpu') is None
    out = gather_meta(_samples(3), ['location', 'time'], 'cpu')
    assert out['location'].shape == (3, 4)
    with pytest.raises(KeyError, match='SpatioTemporalMeta'):
        gather_meta(_samples(2), ['altitude'], 'cpu')

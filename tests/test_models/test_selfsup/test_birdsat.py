import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmfg.models.selfsup.birdsat import (MetaEmbedding, gather_meta,
                                         pair_matching_batch,
                                         rolled_pair_batch)
from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

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
                          patch_size=8, out_type='cls_token'),
            neck=_dec(16, 8), head=_head(8),
            sat_backbone=dict(type='VisionTransformer', arch=ARCH,
                              img_size=16, patch_size=8,
                              out_type='cls_token'),
            contrastive_loss=dict(type='InfoNCELoss', temperature=0.1),
            meta_dims=META)
        keys = {'loss_rec', 'loss_contrastive'}
    else:
        cfg = dict(
            type='CVMMAE',
            backbone=dict(type='CVMMAEViT', arch=ARCH, img_size=32,
                          patch_size=8, sat_img_size=16, sat_patch_size=8),
            neck=_dec(16, 8), head=_head(8), sat_neck=_dec(4, 8),
            sat_head=_head(8), meta_dims=META)
        keys = {'loss_rec_ground', 'loss_rec_sat', 'loss_match',
                'acc_match'}
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
        # contrastive term = 0.3 * InfoNCE of the class tokens:
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


# --- meta placement (official: never in the ground encoder) ---------------
def _cve(**kw):
    cfg = dict(
        type='CVEMAE',
        backbone=dict(type='BirdSATViT', arch=ARCH, img_size=32,
                      patch_size=8, out_type='cls_token'),
        neck=_dec(16, 8), head=_head(8),
        sat_backbone=dict(type='VisionTransformer', arch=ARCH, img_size=16,
                          patch_size=8, out_type='cls_token'),
        contrastive_loss=dict(type='InfoNCELoss', temperature=0.5))
    for key, value in kw.items():
        if key == 'backbone':
            cfg['backbone'] = dict(cfg['backbone'], **value)
        else:
            cfg[key] = value
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _cvm(**kw):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='CVMMAE',
        backbone=dict(type='CVMMAEViT', arch=ARCH, img_size=32,
                      patch_size=8, sat_img_size=16, sat_patch_size=8,
                      **kw.pop('backbone', {})),
        neck=_dec(16, 8), head=_head(8), sat_neck=_dec(4, 8),
        sat_head=_head(8), **kw))
    model.init_weights()
    return model


def _embedded(lin, meta):
    """Σ_k meta_k W_kᵀ + b_k by hand, from the module's Linear weights."""
    return sum(meta[k] @ lin[k].weight.T + lin[k].bias for k in META)


def _views(b=4):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(b, 3, 32, 32, generator=g),
            torch.randn(b, 3, 16, 16, generator=g)]


def test_cvemae_meta_is_added_to_the_satellite_output_class_token():
    model = _cve(meta_dims=META, meta_drop_prob=0.0).eval()
    assert model.backbone.meta_embed is None  # the ground encoder has none
    views, samples = _views(), _samples(4)
    meta = gather_meta(samples, list(META), 'cpu')
    with torch.no_grad():
        sat_cls = model.sat_backbone(views[1])[-1]
        g, s = model.embed_views(*views, meta)
        g0, s0 = model.embed_views(*views, None)
    torch.testing.assert_close(s, sat_cls + _embedded(model.meta_embed.proj,
                                                      meta))
    torch.testing.assert_close(s0, sat_cls)
    assert torch.equal(g, g0)


@pytest.mark.parametrize('unmasked', [True, False])
def test_cvemae_contrastive_uses_an_unmasked_ground_forward(unmasked):
    """Official (default): InfoNCE on the class token of a second,
    unmasked ground forward, the reconstruction on the masked one; False:
    the masked forward's class token (the old loss, exactly)."""
    kw = {} if unmasked else dict(unmasked_contrastive=False)
    model = _cve(meta_dims=META, meta_drop_prob=0.0, **kw).train()
    assert model.unmasked_contrastive is unmasked
    vit, views, samples = model.backbone, _views(), _samples(4)
    meta = gather_meta(samples, list(META), 'cpu')
    torch.manual_seed(3)
    losses = model(views, samples, mode='loss')
    torch.manual_seed(3)
    with torch.no_grad():
        latent, mask, ids = vit(views[0], mask=True)
        assert latent.shape[1] == 1 + 4  # 16 patches, mask ratio 0.75
        rec = model.head.loss(model.neck(latent, ids), views[0], mask)
        # every patch: MAEViT with mask_ratio 0 == VisionTransformer
        full = vit(views[0], mask=None)[0]
        sat = F.normalize(
            model.sat_backbone(views[1])[-1] +
            _embedded(model.meta_embed.proj, meta),
            dim=-1)
        target = torch.arange(4)

        def info_nce(g):  # 0.3 * symmetric InfoNCE, temperature 0.5
            logits = F.normalize(g, dim=-1) @ sat.T / 0.5
            return 0.3 * (F.cross_entropy(logits, target) +
                          F.cross_entropy(logits.T, target)) / 2

        ref_full, ref_masked = info_nce(full), info_nce(latent[:, 0])
    assert (ref_full - ref_masked).abs() > 1e-3  # the two are told apart
    torch.testing.assert_close(losses['loss_contrastive'].detach(),
                               ref_full if unmasked else ref_masked)
    # the reconstruction is the masked forward's, same draws, both modes
    torch.testing.assert_close(losses['loss_rec'].detach(), rec)
    # the InfoNCE gradient reaches the ground encoder either way
    model.zero_grad()
    losses['loss_contrastive'].backward()
    assert vit.patch_embed.projection.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('kind', ['CVEMAE', 'CVMMAE'])
def test_ground_features_do_not_depend_on_meta(kind):
    model = (_cve if kind == 'CVEMAE' else _cvm)(meta_dims=META,
                                                 meta_drop_prob=0.0)
    views = _views()
    a, b = _samples(4, seed=0), _samples(4, seed=5)
    for mode in (True, False):
        model.train(mode)
        with torch.no_grad():
            with_meta = model(views[0], a, mode='tensor')[0]
            other = model(views[0], b, mode='tensor')[0]
            without = model(views[0], mode='tensor')[0]
        assert torch.equal(with_meta, without)
        assert torch.equal(other, without)
    model.eval()
    out_a = model(views, a, mode='predict')
    out_b = model(views, b, mode='predict')
    for x, y in zip(out_a, out_b):
        assert torch.equal(x.ground_embedding, y.ground_embedding)
        assert not torch.equal(x.overhead_embedding, y.overhead_embedding)


@pytest.mark.parametrize('unmasked', [True, False])
def test_cvmmae_meta_goes_to_the_joint_output_token_with_the_tile(
        monkeypatch, unmasked):
    """Matching on the joint class token + the tile's meta; official
    (default): the token of a second, unmasked joint forward of the pairs,
    False: the masked forward's token (the old loss)."""
    import mmfg.models.selfsup.birdsat as birdsat
    kw = {} if unmasked else dict(unmasked_match=False)
    model = _cvm(meta_dims=META, meta_drop_prob=0.0, pair_mode='shift', **kw)
    assert model.unmasked_match is unmasked
    assert model.backbone.meta_embed is None
    views, samples = _views(), _samples(4)
    meta = gather_meta(samples, list(META), 'cpu')
    emb = model.meta_embed.proj
    # retrieval: the satellite view's class token + meta
    model.eval()
    with torch.no_grad():
        _, s = model.embed_views(*views, meta)
        s0 = model.backbone(None, views[1], mask=None)[0]
    torch.testing.assert_close(s, s0 + _embedded(emb, meta))
    # matching: rows 1, 3 get the tile (and so the meta) of rows 0, 2
    perm = torch.tensor([0, 0, 2, 2])
    labels = torch.tensor([1., 0., 1., 0.])
    monkeypatch.setattr(birdsat, 'pair_matching_batch',
                        lambda *a, **k: (perm, labels))
    model.train()
    torch.manual_seed(3)
    losses = model(views, samples, mode='loss')
    loss = losses['loss_match']
    torch.manual_seed(3)
    with torch.no_grad():
        sat = views[1][perm]
        latent, (mask_g, ids_g), _ = model.backbone(views[0], sat, mask=True)
        # every token of both views, through the plain layers by hand
        vit = model.backbone
        tokens = torch.cat([vit.embed_patches(views[0]) + vit.view_embed[0],
                            vit.embed_sat(sat)], 1)
        full = vit.encode(tokens, vit.class_token(4, None))[:, 0]
        joint = full if unmasked else latent[:, 0]
        rec_g = model.head.loss(
            model.neck(latent[:, :1 + 4], ids_g), views[0], mask_g)

        def bce(m, j=joint):
            logits = model.match_head(j + _embedded(emb, m))
            return F.binary_cross_entropy_with_logits(logits[:, 0], labels)

        tile_meta = {k: v[perm] for k, v in meta.items()}
        ref, unrolled = bce(tile_meta), bce(meta)
        other = bce(tile_meta, latent[:, 0] if unmasked else full)
    torch.testing.assert_close(loss.detach(), ref)
    assert (loss - unrolled).abs() > 1e-4  # the roll matters
    assert (loss - other).abs() > 1e-4  # masked / unmasked told apart
    # the reconstruction stays on the masked forward, same draws
    torch.testing.assert_close(losses['loss_rec_ground'].detach(), rec_g)


def test_frozen_satellite_encoder_gets_no_gradient_and_stays_fixed():
    model = _cve(meta_dims=META, meta_drop_prob=0.0,
                 freeze_sat_backbone=True)
    model.train()
    assert not model.sat_backbone.training  # stays in eval mode
    assert model.backbone.training
    before = {k: v.clone() for k, v in model.sat_backbone.state_dict().items()}
    ground_before = model.backbone.patch_embed.projection.weight.clone()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.05)
    losses = model(_views(), _samples(4), mode='loss')
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.sat_backbone.parameters())
    assert model.meta_embed.proj['location'].weight.grad.abs().sum() > 0
    opt.step()
    after = model.sat_backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(ground_before,
                           model.backbone.patch_embed.projection.weight)
    # not frozen: the same step changes the satellite encoder
    model = _cve(meta_dims=META)
    assert model.sat_backbone.training
    sum(model(_views(), _samples(4), mode='loss').values()).backward()
    assert model.sat_backbone.patch_embed.projection.weight.grad.abs().sum(
    ) > 0


def test_old_ground_input_placement_reproduces_the_old_behaviour():
    model = _cve(backbone=dict(meta_dims=META, meta_drop_prob=0.0),
                 meta_position='ground_input').eval()
    vit = model.backbone
    views, samples = _views(), _samples(4)
    meta = gather_meta(samples, list(META), 'cpu')
    with torch.no_grad():
        feats = model(views[0], samples, mode='tensor')[0]
        cls = vit.cls_token + vit.pos_embed[:, :1] + _embedded(
            vit.meta_embed.proj, meta).unsqueeze(1)
        ref = vit.encode(vit.embed_patches(views[0]), cls)[:, 0]
        g, s = model.embed_views(*views, meta)
        sat_cls = model.sat_backbone(views[1])[-1]
    torch.testing.assert_close(feats, ref)  # ground depends on meta
    torch.testing.assert_close(g, ref)
    assert torch.equal(s, sat_cls)  # the satellite token has no meta
    # checkpoints of the old placement load strictly
    keys = set(model.state_dict())
    assert 'backbone.meta_embed.proj.location.weight' in keys
    assert not any(k.startswith('meta_embed.') for k in keys)
    cvm = _cvm(backbone=dict(meta_dims=META), meta_position='joint_input')
    assert cvm.meta_embed is None and cvm.meta_keys == ('location', 'time')


def test_meta_position_config_errors():
    with pytest.raises(ConfigError, match="meta_position='ground_input'"):
        _cve(backbone=dict(meta_dims=META))  # old config, new default
    with pytest.raises(ConfigError, match='backbone.meta_dims'):
        _cve(meta_dims=META, meta_position='ground_input')
    with pytest.raises(ConfigError, match='joint_output'):
        _cvm(meta_position='sat_output')
    # the old placement keeps the old single masked forward
    old = dict(backbone=dict(meta_dims=META), meta_position='ground_input')
    assert not _cve(**old).unmasked_contrastive
    with pytest.raises(ConfigError, match='unmasked_contrastive'):
        _cve(unmasked_contrastive=True, **old)
    old = dict(backbone=dict(meta_dims=META), meta_position='joint_input')
    assert not _cvm(**old).unmasked_match
    assert _cvm(**old).pair_mode == 'shift'
    with pytest.raises(ConfigError, match='unmasked_match'):
        _cvm(unmasked_match=True, **old)
    # pairing
    assert _cvm().pair_mode == 'rolled'
    with pytest.raises(ConfigError, match="'rolled' .official. or 'shift'"):
        _cvm(pair_mode='roll')
    with pytest.raises(ConfigError, match='unmasked_match=True'):
        _cvm(unmasked_match=False)  # default pair_mode 'rolled'
    with pytest.raises(ConfigError, match='neg_ratio=0.25'):
        _cvm(neg_ratio=0.25)
    assert _cvm(neg_ratio=0.25, pair_mode='shift').neg_ratio == 0.25


def test_rolled_pair_batch_rows_and_labels():
    """Official doubled batch: rows 0..B-1 true pairs, rows B..2B-1 the
    ground with the tiles rolled by one (torch.roll(tiles, 1, 0))."""
    g_idx, s_idx, labels = rolled_pair_batch(4)
    assert g_idx.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert s_idx.tolist() == [0, 1, 2, 3, 3, 0, 1, 2]
    assert labels.tolist() == [1.0] * 4 + [0.0] * 4
    tiles = torch.randn(5, 3)
    _, s_idx, _ = rolled_pair_batch(5)
    assert torch.equal(tiles[s_idx[5:]], torch.roll(tiles, 1, 0))
    # B = 1: no other tile, so only the true pair
    g_idx, s_idx, labels = rolled_pair_batch(1)
    assert g_idx.tolist() == [0] and s_idx.tolist() == [0]
    assert labels.tolist() == [1.0]


def test_cvmmae_rolled_pairing_known_answer():
    """pair_mode='rolled' (default): both reconstructions on the masked
    forward of the TRUE pairs; matching BCE over an unmasked forward of B
    true + B rolled pairs (labels 1 / 0), the meta rolled with the tiles.
    Everything recomputed by hand from the module's pieces."""
    model = _cvm(meta_dims=META, meta_drop_prob=0.0).train()
    assert model.pair_mode == 'rolled' and model.unmasked_match
    vit, emb = model.backbone, model.meta_embed.proj
    b = 4
    views, samples = _views(b), _samples(b)
    ground, sat = views
    meta = gather_meta(samples, list(META), 'cpu')
    torch.manual_seed(3)
    losses = model(views, samples, mode='loss')
    torch.manual_seed(3)
    with torch.no_grad():
        latent, (mask_g, ids_g), (mask_s, ids_s) = vit(ground, sat,
                                                       mask=True)
        cls, lat_g, lat_s = latent[:, :1], latent[:, 1:5], latent[:, 5:]
        rec_g = model.head.loss(
            model.neck(torch.cat([cls, lat_g], 1), ids_g), ground, mask_g)

        def rec_sat(target):
            return model.sat_head.loss(
                model.sat_neck(torch.cat([cls, lat_s], 1), ids_s), target,
                mask_s)

        rolled = torch.roll(sat, 1, 0)
        g2, s2 = torch.cat([ground, ground]), torch.cat([sat, rolled])
        tokens = torch.cat([vit.embed_patches(g2) + vit.view_embed[0],
                            vit.embed_sat(s2)], 1)
        joint = vit.encode(tokens, vit.class_token(2 * b, None))[:, 0]
        pair_meta = {k: torch.cat([v, torch.roll(v, 1, 0)])
                     for k, v in meta.items()}
        logits = model.match_head(joint + _embedded(emb, pair_meta))[:, 0]
        labels = torch.tensor([1.0] * b + [0.0] * b)
        bce = F.binary_cross_entropy_with_logits(logits, labels)
        acc = ((logits > 0).float() == labels).float().mean()
    torch.testing.assert_close(losses['loss_rec_ground'].detach(), rec_g)
    torch.testing.assert_close(losses['loss_rec_sat'].detach(), rec_sat(sat))
    # the rolled tiles are not reconstructed (the check can tell them apart)
    assert (losses['loss_rec_sat'] - rec_sat(rolled)).abs() > 1e-3
    torch.testing.assert_close(losses['loss_match'].detach(), bce)
    assert losses['acc_match'].item() == acc.item()
    # the matching gradient reaches the head and both patch embeddings
    model.zero_grad()
    losses['loss_match'].backward()
    assert model.match_head.weight.grad.abs().sum() > 0
    assert vit.patch_embed.projection.weight.grad.abs().sum() > 0
    assert vit.sat_patch_embed.projection.weight.grad.abs().sum() > 0


# losses of the pre-2026-11-28 code (in-batch shift pairing), model
# ``_cvm(**kw)``, ``torch.manual_seed(7)``, batch ``_views(6)`` /
# ``_samples(6)``: (rec_ground, rec_sat, match) per
# (unmasked_match, meta)
OLD_SHIFT_LOSSES = {
    (True, False): (1.355962038, 1.409353971, 0.8369765878),
    (True, True): (1.356392384, 1.412385583, 0.6830894351),
    (False, False): (1.355962038, 1.409353971, 0.9045843482),
    (False, True): (1.356392384, 1.412385583, 0.6255766749),
}


@pytest.mark.parametrize('unmasked,meta', list(OLD_SHIFT_LOSSES))
def test_cvmmae_shift_mode_reproduces_the_old_losses(unmasked, meta):
    kw = dict(pair_mode='shift', unmasked_match=unmasked)
    if meta:
        kw.update(meta_dims=META, meta_drop_prob=0.0)
    model = _cvm(**kw).train()
    torch.manual_seed(7)
    losses = model(_views(6), _samples(6), mode='loss')
    got = [losses[k].item()
           for k in ('loss_rec_ground', 'loss_rec_sat', 'loss_match')]
    assert got == pytest.approx(OLD_SHIFT_LOSSES[(unmasked, meta)],
                                rel=1e-6, abs=1e-7)

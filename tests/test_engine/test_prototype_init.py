"""Data-driven prototype initialisation: random own-class latent patches,
independent of batching, uniform over positions."""
import torch
from push_helpers import (TinyProtoDataset, all_latents, build_tiny_model,
                          tiny_loader)

from mmfg.engine.hooks.push_hook import (init_prototypes_from_patches,
                                         salient_patch_mask)
from mmfg.models.utils.projection import random_patch_keys


def test_random_patch_keys_depend_only_on_the_patch():
    keys = random_patch_keys(torch.tensor([3, 9, 4]), (4, 5), 6, seed=1)
    assert keys.shape == (3, 6, 4, 5)
    assert ((keys >= 0) & (keys < 1)).all()
    # the same image in another batch, at another row, gets the same keys
    alone = random_patch_keys(torch.tensor([9]), (4, 5), 6, seed=1)
    assert torch.equal(keys[1], alone[0])
    # another seed gives other keys; almost no ties within a batch
    assert not torch.equal(
        keys, random_patch_keys(torch.tensor([3, 9, 4]), (4, 5), 6, seed=2))
    assert keys.unique().numel() > 0.95 * keys.numel()


def test_random_patch_keys_are_roughly_uniform():
    keys = random_patch_keys(torch.arange(200), (7, 7), 10, seed=0)
    hist = torch.histc(keys, bins=10, min=0, max=1) / keys.numel()
    assert (hist - 0.1).abs().max() < 0.01


def test_init_sets_each_prototype_to_an_own_class_patch():
    ds = TinyProtoDataset(num_classes=3, per_class=4)
    model = build_tiny_model('ProtoPNetHead')
    layer = model.head.layer
    src = init_prototypes_from_patches(model, tiny_loader(ds, 5), seed=0)
    latents = all_latents(model, ds, '')
    labels = [int(ds[i]['data_samples'].gt_label) for i in range(len(ds))]
    protos = layer.prototypes.detach()
    for p in range(layer.num_prototypes):
        i = int(src[''][p])
        assert labels[i] == int(layer.prototype_class[p])
        z = latents[i].flatten(1).t()  # (HW, D)
        assert ((z - protos[p]).abs().max(1).values < 1e-6).any(), p


def test_init_is_independent_of_batching_and_seeded():
    ds = TinyProtoDataset(num_classes=3, per_class=4)
    results = []
    for bs, seed in ((5, 0), (3, 0), (12, 0), (5, 7)):
        model = build_tiny_model('ProtoPNetHead')
        init_prototypes_from_patches(model, tiny_loader(ds, bs), seed=seed)
        results.append(model.head.layer.prototypes.detach().clone())
    assert torch.equal(results[0], results[1])
    assert torch.equal(results[0], results[2])
    assert not torch.equal(results[0], results[3])


def test_salient_patch_mask_keeps_the_strongest_patches():
    feats = torch.zeros(2, 3, 2, 3)
    feats[0, 0] = torch.tensor([[1., 5., 2.], [0., 4., 3.]])
    feats[1, 2] = torch.tensor([[-9., 1., 1.], [0., 0., 0.5]])
    mask = salient_patch_mask(feats, 0.5)  # 3 of 6 patches per image
    assert mask[0].tolist() == [[False, True, False], [False, True, True]]
    # ties at the k-th value are all kept
    assert mask[1].tolist() == [[True, True, True], [False, False, False]]
    assert salient_patch_mask(feats, 0.01).sum((1, 2)).tolist() == [1, 1]


def test_salient_init_draws_only_salient_own_class_patches():
    ds = TinyProtoDataset(num_classes=3, per_class=4)
    model = build_tiny_model('ProtoPNetHead')
    layer = model.head.layer
    src = init_prototypes_from_patches(
        model, tiny_loader(ds, 5), seed=0, salient_fraction=0.1)
    protos = layer.prototypes.detach()
    with torch.no_grad():
        for p in range(layer.num_prototypes):
            item = ds[int(src[''][p])]
            data = model.data_preprocessor(
                {k: [v] for k, v in item.items()}, False)
            feats = model.extract_feat(data['inputs'])
            z = layer.latent(feats)[0].flatten(1).t()  # (HW, D)
            mask = salient_patch_mask(feats[0], 0.1)[0].flatten()
            hit = (z - protos[p]).abs().max(1).values < 1e-6
            assert hit.any() and mask[hit].all(), p

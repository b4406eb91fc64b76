"""Does the attribute condition matter? Two honest checks of a trained CVAE.

1. **Likelihood**: the test-set ELBO with each image's own attribute vector
   against the ELBO with the vectors of the batch shuffled (another image's
   attributes; same prior network, same images).
2. **Samples**: a classifier trained on *real* training images (softmax
   regression on pixels, the same preprocessing as the CVAE) labels images
   sampled from each class's class-level attribute vector. Reported: how
   often it names the class whose attributes were requested, against how
   often it names the class of a shuffled assignment (a derangement of the
   classes), and chance; plus its accuracy on real test images.

Example::

    python projects/attr_cvae/tools/attribute_agreement.py CONFIG CKPT
"""
import argparse
import copy
import json
import os.path as osp
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__))))))

from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmfg.apis.inference import init_model  # noqa: E402
from mmfg.registry import DATASETS  # noqa: E402
from projects.attr_cvae.attr_cvae.conditions import \
    load_attribute_table  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--num-samples', type=int, default=50,
                   help='samples per class')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def _load(model, loader_key):
    """All images (preprocessed, ``[0, 1]``) and data samples of a split."""
    cfg = copy.deepcopy(model.cfg[loader_key].dataset)
    dataset = DATASETS.build(cfg)
    items = pseudo_collate([dataset[i] for i in range(len(dataset))])
    data = model.data_preprocessor(items, False)
    return data['inputs'], data['data_samples']


def _classifier(x, labels, num_classes, steps=300):
    """Softmax regression on flattened pixels (Adam, weight decay)."""
    torch.manual_seed(0)
    feats = x.flatten(1)
    mean, std = feats.mean(0), feats.std(0) + 1e-3
    w = torch.zeros(feats.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(((feats - mean) / std) @ w + b, labels).backward()
        opt.step()
    return lambda img: (((img.flatten(1) - mean) / std) @ w + b).argmax(1)


@torch.no_grad()
def main(argv=None):
    args = parse_args(argv)
    model = init_model(args.config, args.checkpoint, device=args.device)
    init_default_scope(model.cfg.get('default_scope', 'mmfg'))
    _, table, _ = load_attribute_table(model.cfg)
    num_classes = len(table)
    g = torch.Generator().manual_seed(args.seed)

    # 1. test ELBO, own vs shuffled attribute vectors
    x_test, ds_test = _load(model, 'test_dataloader')
    y = model.attributes_of(ds_test, x_test.device)
    perm = torch.randperm(len(y), generator=g)
    elbo_own = model.terms(x_test, y)['elbo'].mean().item()
    elbo_shuf = model.terms(x_test, y[perm])['elbo'].mean().item()

    # 2. classifier on real train images, applied to samples
    x_train, ds_train = _load(model, 'train_dataloader')
    lab_train = torch.tensor([int(d.gt_label) for d in ds_train])
    lab_test = torch.tensor([int(d.gt_label) for d in ds_test])
    with torch.enable_grad():
        clf = _classifier(x_train.cpu(), lab_train, num_classes)
    real_acc = (clf(x_test.cpu()) == lab_test).float().mean().item()
    shift = 1 + torch.randint(num_classes - 1, (1, ), generator=g).item()
    shuffled = (torch.arange(num_classes) + shift) % num_classes
    samples = model.sample(
        torch.from_numpy(table), args.num_samples,
        generator=torch.Generator(args.device).manual_seed(args.seed))
    pred = clf(samples.flatten(0, 1).cpu()).view(num_classes, -1)
    requested = torch.arange(num_classes)[:, None]
    print(
        json.dumps(
            dict(
                test_elbo_own_attributes=round(elbo_own, 2),
                test_elbo_shuffled_attributes=round(elbo_shuf, 2),
                classifier_real_test_acc=round(real_acc, 4),
                samples_agree_requested=round(
                    (pred == requested).float().mean().item(), 4),
                samples_agree_shuffled=round(
                    (pred == shuffled[:, None]).float().mean().item(), 4),
                chance=round(1 / num_classes, 4),
                samples_per_class=args.num_samples)))


if __name__ == '__main__':
    main()

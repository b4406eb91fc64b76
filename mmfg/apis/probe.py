"""Frozen-feature evaluation of self-supervised backbones.

Signatures (stable)::

    extract_features(model, data=None, checkpoint=None, split='test',
                     feature_fn=None, pipeline=None, batch_size=64,
                     num_workers=0, device='cpu')
        -> (feats (N, D), labels (N,))
    linear_probe(train_feats, train_labels, test_feats, test_labels,
                 epochs=100, lr=0.1, wd=0., batch_size=None, topk=(1, 5),
                 standardize=True, seed=0, device='cpu') -> dict
    knn_classify(train_feats, train_labels, test_feats, test_labels, k=20,
                 temperature=0.07, num_classes=None, topk=(1, 5),
                 chunk_size=1024, device='cpu') -> dict
    retrieval_eval(train_feats, train_labels, test_feats, test_labels,
                   query_every=9, distance='cosine', backend='torch')
                   -> dict

``linear_probe`` and ``knn_classify`` return ``{'top1': ..., 'top5': ...}``
(percent, one key per ``topk``); ``retrieval_eval`` returns ``Rank-1``,
``Rank-5`` and ``mAP@100`` (percent) computed by
:func:`mmfg.evaluation.metrics.retrieval_metrics`, the function behind
``RetrievalMetric``.

>>> from mmfg.apis import extract_features, knn_classify, linear_probe
>>> model = init_model('configs/cmd/cmd_vit-t_synthbirds.py', 'epoch_30.pth')
>>> xtr, ytr = extract_features(model, split='train')
>>> xte, yte = extract_features(model, split='test')
>>> linear_probe(xtr, ytr, xte, yte)['top1']
"""
import copy
import math
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import DefaultScope
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from mmfg.evaluation.metrics.retrieval import retrieval_metrics
from mmfg.utils.errors import ConfigError
from .inference import init_model

__all__ = [
    'extract_features', 'linear_probe', 'knn_classify', 'retrieval_eval',
    'pool_features'
]

FeatureFn = Callable[[nn.Module, Tensor], Tensor]


def pool_features(out: Union[Tensor, Sequence[Tensor]]) -> Tensor:
    """One ``(B, D)`` feature from what a backbone / ``extract_feat`` returns.

    A tuple or list gives its last element; ``(B, C, H, W)`` maps are
    average-pooled; ``(B, L, D)`` token sequences give their first (class)
    token; ``(B, D)`` is returned as is.
    """
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if out.dim() == 4:
        return out.mean((2, 3))
    if out.dim() == 3:
        return out[:, 0]
    return out.flatten(1)


def _default_feature_fn(model: nn.Module, inputs: Tensor) -> Tensor:
    return pool_features(model.extract_feat(inputs))


def _build_loader(model: nn.Module, data, split: str, pipeline,
                  batch_size: int, num_workers: int) -> DataLoader:
    """A deterministic, unaugmented dataloader over ``data`` or the model
    config's ``{split}_dataloader`` dataset."""
    if isinstance(data, DataLoader):
        return data
    cfg: Optional[Config] = getattr(model, 'cfg', None)
    scope = cfg.get('default_scope', 'mmfg') if cfg is not None else 'mmfg'
    with DefaultScope.overwrite_default_scope(scope):
        if data is None or isinstance(data, dict):
            if data is None:
                key = f'{split}_dataloader'
                if cfg is None or cfg.get(key) is None:
                    raise ConfigError(
                        f'extract_features: the model config has no "{key}";'
                        ' pass a dataset or dataloader, or a model built by '
                        'init_model from a config with that key.')
                data = copy.deepcopy(cfg[key]['dataset'])
                if pipeline is None and \
                        cfg.get('test_dataloader') is not None:
                    # the unaugmented images: the test pipeline
                    pipeline = cfg.test_dataloader.dataset.pipeline
            else:
                data = copy.deepcopy(data)
            if pipeline is not None:
                data['pipeline'] = copy.deepcopy(pipeline)
            from mmfg.registry import DATASETS
            data = DATASETS.build(data)
        elif pipeline is not None and hasattr(data, 'pipeline'):
            data = copy.copy(data)
            data.pipeline = Compose(copy.deepcopy(pipeline))
    if not isinstance(data, Dataset) and not (hasattr(data, '__len__') and
                                              hasattr(data, '__getitem__')):
        raise ConfigError('extract_features: data must be a DataLoader, a '
                          'Dataset (or a sequence of packed samples) or a '
                          f'dataset config, got {type(data)}.')
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=default_collate)


@torch.no_grad()
def extract_features(
        model: Union[nn.Module, str, Config],
        data: Union[DataLoader, Dataset, dict, None] = None,
        checkpoint: Optional[str] = None,
        split: str = 'test',
        feature_fn: Optional[FeatureFn] = None,
        pipeline: Optional[Sequence[dict]] = None,
        batch_size: int = 64,
        num_workers: int = 0,
        device: str = 'cpu') -> Tuple[Tensor, Tensor]:
    """Frozen features and labels of a whole dataset.

    Args:
        model (nn.Module | str | Config): a model (e.g. from
            :func:`~mmfg.apis.init_model`), or a config to build one with
            ``checkpoint``.
        data (DataLoader | Dataset | dict, optional): what to embed (a
            dataset, or a sequence of packed ``dict(inputs, data_samples)``
            samples); a dataset config is built in the model config's
            scope. None: the dataset of the config's ``{split}_dataloader``.
        checkpoint (str, optional): weights, when ``model`` is a config.
        split (str): ``'train'``, ``'val'`` or ``'test'`` when ``data`` is
            None. Defaults to ``'test'``.
        feature_fn (callable, optional): ``feature_fn(model, inputs)`` ->
            ``(B, D)`` from preprocessed ``inputs (B, C, H, W)``. Defaults to
            :func:`pool_features` of ``model.extract_feat(inputs)``.
        pipeline (Sequence[dict], optional): pipeline replacing the
            dataset's (built datasets / configs only). Defaults to the
            config's test pipeline when ``data`` is None, so training
            images are embedded without augmentation.
        batch_size (int): images per forward. Defaults to 64.
        num_workers (int): dataloader workers. Defaults to 0.
        device (str): where the model runs. Defaults to ``'cpu'``.

    Returns:
        tuple[Tensor, Tensor]: features ``(N, D)`` float32 and labels
        ``(N,)`` int64 (``-1`` where a sample has no ``gt_label``), on the
        CPU, in dataset order.
    """
    if not isinstance(model, nn.Module):
        model = init_model(model, checkpoint, device=device)
    model = model.to(device).eval()
    feature_fn = feature_fn or _default_feature_fn
    loader = _build_loader(model, data, split, pipeline, batch_size,
                           num_workers)
    feats, labels = [], []
    for batch in loader:
        batch = model.data_preprocessor(batch, False)
        inputs = batch['inputs']
        if isinstance(inputs, (list, tuple)):  # multi-view: first view
            inputs = inputs[0]
        feats.append(feature_fn(model, inputs).float())
        for ds in batch['data_samples'] or []:
            lab = ds.get('gt_label', None)
            labels.append(-1 if lab is None else int(
                torch.as_tensor(lab).view(-1)[0]))
    if not feats:
        raise ValueError('extract_features: the dataset is empty.')
    return torch.cat(feats).cpu(), torch.tensor(labels, dtype=torch.long)


def _topk_acc(scores: Tensor, labels: Tensor,
              topk: Sequence[int]) -> Dict[str, float]:
    """Top-k accuracies (percent) of ``scores (N, C)``; ties by lower
    class."""
    kmax = min(max(topk), scores.shape[1])
    pred = scores.topk(kmax, dim=1).indices
    hit = pred == labels.view(-1, 1).to(pred.device)
    return {
        f'top{k}': float(100 * hit[:, :min(k, kmax)].any(1).double().mean())
        for k in topk
    }


def _check(train_feats: Tensor, train_labels: Tensor, test_feats: Tensor,
           test_labels: Tensor, who: str) -> None:
    if train_feats.dim() != 2 or test_feats.dim() != 2 or \
            train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f'{who}: features must be (N, D) and (M, D), got '
                         f'{tuple(train_feats.shape)} and '
                         f'{tuple(test_feats.shape)}.')
    if len(train_labels) != len(train_feats) or \
            len(test_labels) != len(test_feats):
        raise ValueError(f'{who}: one label per feature row is needed.')
    if bool((train_labels < 0).any()):
        raise ValueError(f'{who}: some training samples have no label (-1);'
                         ' evaluate on a labelled split.')


def linear_probe(train_feats: Tensor,
                 train_labels: Tensor,
                 test_feats: Tensor,
                 test_labels: Tensor,
                 epochs: int = 100,
                 lr: float = 0.1,
                 wd: float = 0.,
                 batch_size: Optional[int] = None,
                 topk: Sequence[int] = (1, 5),
                 standardize: bool = True,
                 seed: int = 0,
                 device: str = 'cpu') -> Dict[str, float]:
    """Multinomial logistic regression on frozen features.

    SGD (momentum 0.9, cosine learning rate) on the cross-entropy of a
    linear layer initialised at zero; features standardised with the
    training mean and standard deviation. Deterministic: the mini-batch
    order comes from a seeded generator, full-batch has none.

    Args:
        train_feats (Tensor): ``(N, D)``.
        train_labels (Tensor): ``(N,)`` int in ``[0, C)``.
        test_feats (Tensor): ``(M, D)``.
        test_labels (Tensor): ``(M,)``.
        epochs (int): passes over the training set. Defaults to 100.
        lr (float): peak learning rate. Defaults to 0.1.
        wd (float): L2 weight decay. Defaults to 0.
        batch_size (int, optional): mini-batch size; None: full batch.
        topk (Sequence[int]): accuracies to report. Defaults to (1, 5).
        standardize (bool): standardise features. Defaults to True.
        seed (int): mini-batch order. Defaults to 0.
        device (str): where to train. Defaults to ``'cpu'``.

    Returns:
        dict[str, float]: ``top{k}`` test accuracies in percent.
    """
    _check(train_feats, train_labels, test_feats, test_labels,
           'linear_probe')
    dev = torch.device(device)
    xtr = train_feats.to(dev, torch.float32)
    xte = test_feats.to(dev, torch.float32)
    ytr = train_labels.to(dev).long()
    if standardize:
        mean, std = xtr.mean(0), xtr.std(0, unbiased=False).clamp_min(1e-6)
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    num_classes = int(max(ytr.max(), test_labels.max())) + 1
    layer = nn.Linear(xtr.shape[1], num_classes).to(dev)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = torch.optim.SGD(
        layer.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    n = len(xtr)
    bs = n if not batch_size else min(int(batch_size), n)
    steps = epochs * math.ceil(n / bs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(steps, 1))))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(dev) if bs < n else None
        for s in range(0, n, bs):
            idx = order[s:s + bs] if order is not None else slice(None)
            loss = F.cross_entropy(layer(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        return _topk_acc(layer(xte), test_labels, topk)


def knn_classify(train_feats: Tensor,
                 train_labels: Tensor,
                 test_feats: Tensor,
                 test_labels: Tensor,
                 k: int = 20,
                 temperature: float = 0.07,
                 num_classes: Optional[int] = None,
                 topk: Sequence[int] = (1, 5),
                 chunk_size: int = 1024,
                 device: str = 'cpu') -> Dict[str, float]:
    """Weighted k-NN classification as in DINO.

    The ``k`` training rows most cosine-similar to a test row vote for
    their class with weight ``exp(sim / temperature)``; classes are ranked
    by their summed votes.

    Args:
        train_feats (Tensor): ``(N, D)``.
        train_labels (Tensor): ``(N,)`` int in ``[0, C)``.
        test_feats (Tensor): ``(M, D)``.
        test_labels (Tensor): ``(M,)``.
        k (int): neighbours (at most ``N``). Defaults to 20.
        temperature (float): vote temperature. Defaults to 0.07.
        num_classes (int, optional): ``C``; inferred from the labels.
        topk (Sequence[int]): accuracies to report. Defaults to (1, 5).
        chunk_size (int): test rows per similarity block. Defaults to 1024.
        device (str): where to compute. Defaults to ``'cpu'``.

    Returns:
        dict[str, float]: ``top{k}`` test accuracies in percent.
    """
    _check(train_feats, train_labels, test_feats, test_labels,
           'knn_classify')
    if temperature <= 0:
        raise ValueError(f'knn_classify: temperature must be positive, got '
                         f'{temperature}.')
    dev = torch.device(device)
    xtr = F.normalize(train_feats.to(dev, torch.float32), dim=1)
    ytr = train_labels.to(dev).long()
    num_classes = num_classes or int(max(ytr.max(), test_labels.max())) + 1
    k = min(int(k), len(xtr))
    scores = []
    for s in range(0, len(test_feats), chunk_size):
        q = F.normalize(test_feats[s:s + chunk_size].to(dev, torch.float32),
                        dim=1)
        sim, idx = (q @ xtr.T).topk(k, dim=1)
        votes = torch.zeros(len(q), num_classes, device=dev)
        votes.scatter_add_(1, ytr[idx], (sim / temperature).exp())
        scores.append(votes)
    return _topk_acc(torch.cat(scores), test_labels, topk)


def retrieval_eval(train_feats: Tensor,
                   train_labels: Tensor,
                   test_feats: Tensor,
                   test_labels: Tensor,
                   query_every: int = 9,
                   distance: str = 'cosine',
                   backend: str = 'torch') -> Dict[str, float]:
    """Rank-1, Rank-5 and mAP@100 with CMD's fixed query/gallery split.

    Every ``query_every``-th test sample (indices 0, 9, 18, ...) is a
    query; the gallery is the training set plus the other test samples.

    Args:
        train_feats (Tensor): ``(N, D)``.
        train_labels (Tensor): ``(N,)``.
        test_feats (Tensor): ``(M, D)``.
        test_labels (Tensor): ``(M,)``.
        query_every (int): query stride over the test set. Defaults to 9.
        distance (str): see :func:`~mmfg.evaluation.metrics.knn_search`.
            Defaults to ``'cosine'`` (the inner product of normalised
            features, as the official code).
        backend (str): ``'torch'`` or ``'faiss'``. Defaults to ``'torch'``.

    Returns:
        dict[str, float]: ``Rank-1``, ``Rank-5``, ``mAP@100`` (percent) and
        ``num_queries``.
    """
    _check(train_feats, train_labels, test_feats, test_labels,
           'retrieval_eval')
    is_q = torch.zeros(len(test_feats), dtype=torch.bool)
    is_q[::int(query_every)] = True
    gallery = torch.cat([train_feats, test_feats[~is_q]])
    g_lab = torch.cat([train_labels, test_labels[~is_q]])
    out = retrieval_metrics(
        test_feats[is_q], gallery, test_labels[is_q], g_lab, topk=(1, 5),
        metric_names=('recall', 'map_at_100'), distance=distance,
        backend=backend)
    return {
        'Rank-1': out['Recall@1'],
        'Rank-5': out['Recall@5'],
        'mAP@100': out['mAP@100'],
        'num_queries': out['num_queries']
    }

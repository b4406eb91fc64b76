"""One-call image retrieval with a metric-learning model.

Signatures (stable)::

    embed_images(model, images, embedding_key='embedding') -> (N, D)
    retrieve(model, query_image, gallery, topk=5, distance=None,
             gallery_labels=None, embedding_key='embedding',
             backend='faiss', index='flat', nlist=None,
             nprobe=None) -> list[dict]

>>> from mmfg.apis import init_model, retrieve
>>> model = init_model('configs/dsml/snr-triplet_r50_cub.py', 'epoch_40.pth')
>>> hits = retrieve(model, 'query.jpg', ['a.jpg', 'b.jpg', 'c.jpg'], topk=2)
>>> hits[0]   # {'rank': 0, 'index': 2, 'distance': 0.31, 'image': 'c.jpg'}

The nearest-neighbour search is :func:`mmfg.evaluation.metrics.knn_search`
(the one the retrieval metrics use), so ``retrieve`` ranks a gallery exactly
as ``RetrievalMetric`` does.
"""
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from mmfg.evaluation.metrics.retrieval import knn_search
from .inference import inference

__all__ = ['embed_images', 'retrieve']

Image = Union[str, np.ndarray]


def embed_images(model: nn.Module,
                 images: Sequence[Image],
                 embedding_key: str = 'embedding') -> Tensor:
    """Embeddings of images through the config's test pipeline.

    Args:
        model (nn.Module): from :func:`~mmfg.apis.init_model`, with a head
            that sets ``embedding_key`` (e.g. ``EmbeddingHead``).
        images (Sequence[str | np.ndarray]): paths or BGR ``(H, W, 3)``
            arrays.
        embedding_key (str): data-sample field of the embedding.

    Returns:
        Tensor: ``(N, D)`` float32 on the CPU.
    """
    rows = []
    for img in images:
        ds = inference(model, img)
        if embedding_key not in ds:
            raise KeyError(
                f'retrieve: the model predicts no "{embedding_key}"; use a '
                'metric-learning model (head EmbeddingHead) or pass '
                'embedding_key.')
        rows.append(ds.get(embedding_key).detach().float().cpu().view(-1))
    return torch.stack(rows)


def _model_distance(model: nn.Module) -> str:
    loss = getattr(getattr(model, 'head', None), 'loss_module', None)
    return getattr(loss, 'distance', 'l2')


def retrieve(model: nn.Module,
             query_image: Image,
             gallery: Union[Tensor, Sequence[Image]],
             topk: int = 5,
             distance: Optional[str] = None,
             gallery_labels: Optional[Sequence] = None,
             embedding_key: str = 'embedding',
             backend: str = 'faiss',
             index: str = 'flat',
             nlist: Optional[int] = None,
             nprobe: Optional[int] = None) -> List[dict]:
    """The gallery items nearest to a query image.

    Args:
        model (nn.Module): metric-learning model from
            :func:`~mmfg.apis.init_model`.
        query_image (str | np.ndarray): path or BGR array.
        gallery (Tensor | Sequence): precomputed embeddings ``(M, D)``
            (e.g. from :func:`embed_images`) or images to embed.
        topk (int): how many items to return. Defaults to 5.
        distance (str, optional): ``'l2'``, ``'squared_l2'``, ``'cosine'``
            or ``'snr'``; None: the distance of the model's loss (``'l2'``
            when it has none).
        gallery_labels (Sequence, optional): ``M`` labels copied into the
            results.
        embedding_key (str): data-sample field of the embedding.
        backend (str): ``'faiss'`` or ``'torch'``.
        index (str): ``'flat'`` (exact) or ``'ivf'`` (faiss inverted file,
            approximate; for galleries of millions; the index is trained on
            every call, so search many queries at once with
            :func:`~mmfg.evaluation.metrics.knn_search` instead).
        nlist (int, optional): IVF lists; see ``knn_search``.
        nprobe (int, optional): IVF lists scanned per query.

    Returns:
        list[dict]: nearest first, each with ``rank``, ``index`` (into the
        gallery), ``distance``, and ``image`` / ``label`` when known.
    """
    images = None
    if not isinstance(gallery, Tensor):
        images = list(gallery)
        if not images:
            raise ValueError('retrieve: the gallery is empty.')
        gallery = embed_images(model, images, embedding_key)
    if gallery_labels is not None and len(gallery_labels) != len(gallery):
        raise ValueError(
            f'retrieve: {len(gallery_labels)} gallery_labels for '
            f'{len(gallery)} gallery items.')
    query = embed_images(model, [query_image], embedding_key)
    distance = distance or _model_distance(model)
    (_, dist, idx), = knn_search(query, gallery.float().cpu(), topk,
                                 distance, backend, index=index, nlist=nlist,
                                 nprobe=nprobe)
    out = []
    for rank, (d, i) in enumerate(zip(dist[0].tolist(), idx[0].tolist())):
        item = dict(rank=rank, index=i, distance=d)
        if images is not None and isinstance(images[i], str):
            item['image'] = images[i]
        if gallery_labels is not None:
            item['label'] = gallery_labels[i]
        out.append(item)
    return out

"""ProtoTree explanations: decision paths and the global tree as data.

Pure functions (no I/O): they turn a :class:`ProtoTreeHead` and features
into JSON-friendly dicts (plus numpy maps / thumbnails) that
:mod:`mmfg.visualization.tree` renders.

- :func:`decision_paths` decodes the nodes and directions on the paths of
  given leaves from the head's routing index, for a batch at once.
- :func:`tree_explanations` builds the local explanation of each image
  (its greedy decision path, each node's similarity, the matching image
  patch, the prototype's source patch, the reached leaf).
- :func:`tree_description` describes the whole (possibly pruned) tree:
  nodes, children, prototype sources, leaf distributions.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .prototypes import high_activation_box, upsample_activation

__all__ = ['decision_paths', 'tree_explanations', 'tree_description',
           'leaf_topk']


def decision_paths(path_index: Tensor, leaves: Tensor,
                   num_nodes: int) -> Dict[str, Tensor]:
    """Nodes and directions on the paths of the given leaves.

    Args:
        path_index (Tensor): ``(L, D)`` from
            :func:`mmfg.models.utils.tree.leaf_path_index`.
        leaves (Tensor): ``(...)`` leaf indices.
        num_nodes (int): ``P``.

    Returns:
        dict[str, Tensor]: ``node (..., D)`` node indices from the root
        down, ``right (..., D)`` bool (True: went right, i.e. the prototype
        is present), ``valid (..., D)`` bool (False on padding).
    """
    idx = path_index[leaves]  # (..., D)
    valid = idx < 2 * num_nodes
    right = idx < num_nodes
    node = torch.where(right, idx, idx - num_nodes).clamp(0, max(
        num_nodes - 1, 0))
    return dict(node=node, right=right & valid, valid=valid)


def leaf_topk(dist: Tensor, k: int,
              classes: Optional[Sequence[str]] = None) -> List[List[dict]]:
    """Top-``k`` classes of leaf distributions.

    Args:
        dist (Tensor): ``(N, C)`` probabilities.
        k (int): classes per leaf.
        classes (Sequence[str], optional): class names.

    Returns:
        list[list[dict]]: per leaf, ``{'class', 'name', 'prob'}`` sorted by
        probability.
    """
    k = min(k, dist.shape[-1])
    prob, cls = dist.topk(k, dim=-1)
    prob, cls = prob.cpu().tolist(), cls.cpu().tolist()
    out = []
    for ps, cs in zip(prob, cls):
        out.append([
            dict(
                **{'class': int(c)},
                name=str(classes[c]) if classes is not None else str(c),
                prob=float(p)) for p, c in zip(ps, cs)
        ])
    return out


def _img_hw(ds) -> Optional[Sequence[int]]:
    if ds is None:
        return None
    meta = ds.metainfo if hasattr(ds, 'metainfo') else {}
    for key in ('img_shape', 'batch_input_shape'):
        if key in meta:
            return tuple(int(v) for v in meta[key][:2])
    return None


@torch.no_grad()
def tree_explanations(head: nn.Module,
                      feats: Sequence[Tensor],
                      data_samples: Optional[list] = None,
                      topk: int = 5,
                      classes: Optional[Sequence[str]] = None,
                      percentile: float = 95.) -> List[dict]:
    """Local explanation of every image: its greedy decision path.

    Args:
        head (ProtoTreeHead): the tree head.
        feats (tuple[Tensor]): backbone outputs for ``B`` images.
        data_samples (list[DataSample], optional): ``img_shape`` (size of
            the tensor the model saw) gives image-patch boxes in pixels.
        topk (int): classes listed for the reached leaf and the prediction.
        classes (Sequence[str], optional): class names.
        percentile (float): high-activation percentile for the boxes.

    Returns:
        list[dict]: per image ``{'type': 'prototree', 'pred_label',
        'pred_score', 'pred_topk', 'mode': 'greedy', 'gt_label' (if known),
        'soft_label', 'sample_max_label', 'greedy_label', 'classes',
        'trees': [{'tree', 'leaf': {'index', 'depth', 'topk'}, 'path':
        [{'node', 'depth', 'direction' ('right' = present / 'left' =
        absent), 'similarity', 'distance', 'latent_hw', 'box' (x1, y1, x2,
        y2 or None), 'prototype_source' (img_idx, h, w or None),
        'similarity_map' (h, w) float32, 'prototype_patch' (s, s, 3) uint8
        RGB or None}]}]}``.
    """
    out = head.route(feats, with_maps=True)
    dec = head.decide(out)
    P = head.num_prototypes
    B = out['min_dist'].shape[0]
    h_lat, w_lat = out['dist_map'].shape[-2:]
    paths = decision_paths(head.path_index, dec['greedy_leaf'], P)  # (B,T,D)
    node = paths['node']
    dmap = out['dist_map']  # (B, P, h, w)
    bidx = torch.arange(B, device=node.device)[:, None, None]
    sim_maps = torch.exp(-dmap[bidx, node])  # (B, T, D, h, w)
    sims = torch.exp(-out['min_dist'][bidx, node])  # (B, T, D)
    dists = out['min_dist'][bidx, node]
    flat_arg = dmap.flatten(2).argmin(-1)[bidx, node]  # (B, T, D)
    leaf_dist = head.leaf_distributions()
    greedy_leaf = dec['greedy_leaf']  # (B, T)
    leaf_tops = leaf_topk(leaf_dist[greedy_leaf.reshape(-1)], topk,
                          classes)
    pred = dec[head.inference_mode]
    pred_tops = leaf_topk(pred, topk, classes)
    labels = {m: dec[m].argmax(1).cpu().tolist()
              for m in ('soft', 'sample_max', 'greedy')}

    # host copies, once
    node_np = node.cpu().numpy()
    right_np = paths['right'].cpu().numpy()
    valid_np = paths['valid'].cpu().numpy()
    sims_np, dists_np = sims.cpu().numpy(), dists.cpu().numpy()
    arg_np = flat_arg.cpu().numpy()
    maps_np = sim_maps.float().cpu().numpy()
    src_np = head.proto_source.cpu().numpy()
    patches = head.proto_patches.cpu().numpy()
    node_depth = head.node_depth.cpu().numpy()
    leaf_depth = head.leaf_depth.cpu().numpy()
    gl_np = greedy_leaf.cpu().numpy()
    T = gl_np.shape[1]

    expls = []
    for b in range(B):
        ds = data_samples[b] if data_samples is not None else None
        hw = _img_hw(ds)
        boxes = None
        if hw is not None:
            up = upsample_activation(sim_maps[b].float().cpu(), hw)
            boxes = high_activation_box(up, percentile).numpy()  # (T, D, 4)
        trees = []
        for t in range(T):
            steps = []
            for k in np.flatnonzero(valid_np[b, t]):
                n = int(node_np[b, t, k])
                src = src_np[n]
                has_patch = src[0] >= 0 and patches.shape[1] > 0
                steps.append(
                    dict(
                        node=n,
                        depth=int(node_depth[n]),
                        direction='right' if right_np[b, t, k] else 'left',
                        similarity=float(sims_np[b, t, k]),
                        distance=float(dists_np[b, t, k]),
                        latent_hw=[
                            int(arg_np[b, t, k] // w_lat),
                            int(arg_np[b, t, k] % w_lat)
                        ],
                        box=boxes[t, k].tolist()
                        if boxes is not None else None,
                        prototype_source=src.tolist() if src[0] >= 0 else
                        None,
                        similarity_map=maps_np[b, t, k],
                        prototype_patch=patches[n] if has_patch else None))
            leaf = int(gl_np[b, t])
            trees.append(
                dict(
                    tree=t,
                    path=steps,
                    leaf=dict(
                        index=leaf,
                        depth=int(leaf_depth[leaf]),
                        topk=leaf_tops[b * T + t])))
        expl = dict(
            type='prototree',
            mode='greedy',
            inference_mode=head.inference_mode,
            pred_label=labels[head.inference_mode][b],
            pred_score=float(pred[b].max()),
            pred_topk=pred_tops[b],
            soft_label=labels['soft'][b],
            sample_max_label=labels['sample_max'][b],
            greedy_label=labels['greedy'][b],
            latent_shape=[int(h_lat), int(w_lat)],
            img_shape=list(hw) if hw is not None else None,
            classes=list(classes) if classes is not None else None,
            trees=trees)
        if ds is not None and 'gt_label' in ds:
            expl['gt_label'] = int(ds.gt_label.reshape(-1)[0])
        expls.append(expl)
    return expls


@torch.no_grad()
def tree_description(head: nn.Module,
                     classes: Optional[Sequence[str]] = None,
                     topk: int = 3) -> dict:
    """The whole tree (forest) as data, for rendering and export.

    Args:
        head (ProtoTreeHead): the tree head.
        classes (Sequence[str], optional): class names.
        topk (int): classes listed per leaf.

    Returns:
        dict: ``num_trees``, ``num_classes``, ``classes``, ``roots`` (one
        child code per tree), ``nodes``: per internal node ``{'id',
        'tree', 'depth', 'left', 'right', 'source', 'has_patch'}`` with
        child codes ``('node', i)`` / ``('leaf', j)``; ``leaves``: per leaf
        ``{'id', 'tree', 'depth', 'topk', 'max_prob'}``; ``patches``
        ``(P, s, s, 3)`` uint8 (a numpy array, not JSON).
    """
    P, L = head.num_prototypes, head.num_leaves
    left = head.tree_left.cpu().tolist()
    right = head.tree_right.cpu().tolist()
    node_tree = head.node_tree.cpu().tolist()
    node_depth = head.node_depth.cpu().tolist()
    leaf_tree = head.leaf_tree.cpu().tolist()
    leaf_depth = head.leaf_depth.cpu().tolist()
    src = head.proto_source.cpu().tolist()
    dist = head.leaf_distributions()
    tops = leaf_topk(dist, topk, classes)
    maxp = dist.amax(1).cpu().tolist()

    def code(c: int):
        return ['node', c] if c >= 0 else ['leaf', -c - 1]

    nodes = [
        dict(
            id=n,
            tree=node_tree[n],
            depth=node_depth[n],
            left=code(left[n]),
            right=code(right[n]),
            source=src[n] if src[n][0] >= 0 else None,
            has_patch=bool(src[n][0] >= 0 and head.patch_size > 0))
        for n in range(P)
    ]
    leaves = [
        dict(
            id=j,
            tree=leaf_tree[j],
            depth=leaf_depth[j],
            topk=tops[j],
            max_prob=maxp[j]) for j in range(L)
    ]
    roots = []
    for t in range(head.num_trees):
        tn = [n for n in range(P) if node_tree[n] == t and node_depth[n] == 0]
        if tn:
            roots.append(['node', tn[0]])
        else:
            roots.append(['leaf', leaf_tree.index(t)])
    return dict(
        num_trees=head.num_trees,
        num_classes=head.num_classes,
        classes=list(classes) if classes is not None else None,
        roots=roots,
        nodes=nodes,
        leaves=leaves,
        patches=head.proto_patches.cpu().numpy())

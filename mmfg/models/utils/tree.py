"""Soft binary decision trees as tensors (ProtoTree and friends).

A forest of binary trees is described by two **leaf x node incidence
matrices** ``right (L, P)`` and ``left (L, P)`` (bool): ``right[l, n]`` says
that leaf ``l`` lies in the right subtree of internal node ``n``,
``left[l, n]`` that it lies in the left one. Every question the model asks
about the tree is a tensor operation on them:

- routing: ``log pi = log p @ right.T + log(1 - p) @ left.T`` (the path
  probability of every leaf for the whole batch in one product; the gather
  form of the same sum, :func:`route_log_probs`, touches only the ``depth``
  non-zeros of each row);
- greedy routing: the reached leaf is the one whose path agrees with every
  hard decision ``p > 0.5`` (:func:`greedy_leaves`);
- pruning: removing a subtree and putting its sibling in its parent's place
  keeps the direction of every surviving leaf at every surviving ancestor,
  so the pruned tree's matrices are the rows / columns of the kept leaves /
  nodes (:func:`prune_masks`);
- the classes below a node: ``(right | left).T @ onehot`` (used by
  ProtoTree's class-constrained projection).

Pruned, unbalanced trees and forests (block-diagonal matrices) need no
special case. The compact, persistent form of a forest is a pair of child
arrays (``left_child``/``right_child`` of each node, ``>= 0`` an internal
node, ``< 0`` the leaf ``-(c + 1)``) plus the tree id of every leaf;
:func:`incidence_from_children` and :func:`children_from_incidence`
convert between the two.

Canonical order: within a tree, internal nodes in pre-order and leaves from
left to right; trees one after the other. Restricting rows / columns keeps
this order, so pruning never reorders anything.
"""
from typing import Dict, Tuple

import torch
from torch import Tensor

__all__ = [
    'full_tree_children', 'incidence_from_children',
    'children_from_incidence', 'node_depths', 'leaf_path_index',
    'route_log_probs', 'route_log_probs_matmul', 'log_one_minus_exp_neg',
    'greedy_leaves', 'logmatmulexp', 'prune_masks', 'subtree_classes',
    'validate_incidence', 'tree_ids'
]


def full_tree_children(depth: int,
                       device=None) -> Tuple[Tensor, Tensor]:
    """Child arrays of a complete binary tree (pre-order nodes).

    Args:
        depth (int): number of decision levels (``>= 1``); the tree has
            ``2 ** depth - 1`` internal nodes and ``2 ** depth`` leaves.
        device: device of the result.

    Returns:
        tuple[Tensor, Tensor]: ``left_child (P,)`` and ``right_child (P,)``
        int64; an entry ``c >= 0`` is internal node ``c``, ``c < 0`` is leaf
        ``-(c + 1)`` (leaves numbered left to right).
    """
    if depth < 1:
        raise ValueError(f'depth must be >= 1, got {depth}')
    P = 2**depth - 1
    heap = torch.arange(P, device=device)  # heap (BFS) index of each node
    level = torch.floor(torch.log2((heap + 1).double())).long()
    pos = heap + 1 - 2**level  # position inside its level
    # pre-order index: each step down costs 1, a right turn at child level i
    # also skips the 2**(depth - i) - 1 internal nodes of the left subtree.
    pre = torch.zeros_like(heap)
    for i in range(1, depth):  # loop over levels, not nodes
        has = level >= i
        bit = (pos >> (level - i).clamp_min(0)) & 1
        pre += has.long() * (1 + bit * (2**(depth - i) - 1))
    out = []
    for side in (1, 2):
        child = 2 * heap + side
        is_leaf = child >= P
        leaf_idx = child - P
        internal = pre[child.clamp_max(P - 1)]
        out.append(torch.where(is_leaf, -(leaf_idx + 1), internal))
    left = torch.empty_like(heap)
    right = torch.empty_like(heap)
    left[pre] = out[0]
    right[pre] = out[1]
    return left, right


def incidence_from_children(left_child: Tensor, right_child: Tensor,
                            num_leaves: int) -> Tuple[Tensor, Tensor]:
    """Leaf x node incidence matrices of a forest given by child arrays.

    Args:
        left_child (Tensor): ``(P,)`` int64 (encoding of
            :func:`full_tree_children`).
        right_child (Tensor): ``(P,)`` int64.
        num_leaves (int): ``L``. Leaves that are no node's child are
            single-leaf trees (all-zero rows).

    Returns:
        tuple[Tensor, Tensor]: ``right (L, P)`` and ``left (L, P)`` bool.
    """
    P = left_child.numel()
    dev = left_child.device
    right = torch.zeros(num_leaves, P, dtype=torch.bool, device=dev)
    left = torch.zeros(num_leaves, P, dtype=torch.bool, device=dev)
    if P == 0:
        return right, left
    nodes = torch.arange(P, device=dev)
    # parent / side of every internal node and every leaf (-1: none)
    node_parent = torch.full((P, ), -1, dtype=torch.long, device=dev)
    node_side = torch.zeros(P, dtype=torch.bool, device=dev)
    leaf_parent = torch.full((num_leaves, ), -1, dtype=torch.long,
                             device=dev)
    leaf_side = torch.zeros(num_leaves, dtype=torch.bool, device=dev)
    for child, is_right in ((left_child, False), (right_child, True)):
        internal = child >= 0
        node_parent[child[internal]] = nodes[internal]
        node_side[child[internal]] = is_right
        leaf = -(child[~internal] + 1)
        leaf_parent[leaf] = nodes[~internal]
        leaf_side[leaf] = is_right
    # walk every leaf up to its root, one level per step (vectorised over
    # leaves; at most `max depth` steps)
    cur, side = leaf_parent.clone(), leaf_side.clone()
    rows = torch.arange(num_leaves, device=dev)
    for _ in range(P):
        alive = cur >= 0
        if not bool(alive.any()):
            break
        r, c, s = rows[alive], cur[alive], side[alive]
        right[r[s], c[s]] = True
        left[r[~s], c[~s]] = True
        side = torch.where(alive, node_side[cur.clamp_min(0)], side)
        cur = torch.where(alive, node_parent[cur.clamp_min(0)], cur)
    return right, left


def _containment(right: Tensor, left: Tensor) -> Dict[str, Tensor]:
    below = (right | left).float()  # (L, P)
    size = below.sum(0)  # (P,) leaves below each node
    inter = below.t() @ below  # (P, P) |below(n) & below(m)|
    inter_l = left.float().t() @ below  # (P, P) |left(n) & below(m)|
    inter_r = right.float().t() @ below
    return dict(below=below, size=size, inter=inter, inter_l=inter_l,
                inter_r=inter_r)


def children_from_incidence(right: Tensor,
                            left: Tensor) -> Tuple[Tensor, Tensor]:
    """Child arrays of the forest described by ``right`` / ``left``.

    The left child of node ``n`` is the internal node whose leaf set equals
    ``n``'s left leaf set, or that set's only leaf.

    Args:
        right (Tensor): ``(L, P)`` bool.
        left (Tensor): ``(L, P)`` bool.

    Returns:
        tuple[Tensor, Tensor]: ``left_child (P,)``, ``right_child (P,)``
        int64 (encoding of :func:`full_tree_children`).
    """
    if right.shape[1] == 0:
        empty = torch.zeros(0, dtype=torch.long, device=right.device)
        return empty, empty.clone()
    c = _containment(right, left)
    size = c['size']
    out = []
    for side, inter_s in ((left, c['inter_l']), (right, c['inter_r'])):
        side_size = side.float().sum(0)  # (P,)
        # m is n's child on this side iff below(m) == side(n)
        eq = (inter_s == side_size[:, None]) & (size[None, :] ==
                                                side_size[:, None])
        has_node = eq.any(1)
        node_child = eq.float().argmax(1)
        leaf_child = side.float().argmax(0)  # the only leaf when size 1
        out.append(torch.where(has_node, node_child, -(leaf_child + 1)))
    return out[0], out[1]


def node_depths(right: Tensor, left: Tensor) -> Tuple[Tensor, Tensor]:
    """Depth of every internal node (root: 0) and of every leaf.

    Args:
        right (Tensor): ``(L, P)`` bool.
        left (Tensor): ``(L, P)`` bool.

    Returns:
        tuple[Tensor, Tensor]: ``node_depth (P,)`` and ``leaf_depth (L,)``
        int64; a leaf's depth is its number of decisions (path length).
    """
    c = _containment(right, left)
    size, inter = c['size'], c['inter']
    # m is a proper ancestor of n iff below(n) is inside below(m) and larger
    anc = (inter == size[:, None]) & (size[None, :] > size[:, None])
    return anc.sum(1).long(), (right | left).sum(1).long()


def tree_ids(right: Tensor, left: Tensor) -> Tuple[Tensor, Tensor]:
    """Tree index of every node and leaf of a forest.

    Trees are numbered by their first leaf. Single-leaf trees count.

    Returns:
        tuple[Tensor, Tensor]: ``node_tree (P,)``, ``leaf_tree (L,)`` int64.
    """
    L, P = right.shape
    below = (right | left)
    if P == 0:
        return (torch.zeros(0, dtype=torch.long, device=right.device),
                torch.arange(L, device=right.device))
    node_depth, leaf_depth = node_depths(right, left)
    # the root of a leaf's tree is its ancestor of depth 0
    is_root = (node_depth == 0)
    root_of_leaf = torch.where(
        leaf_depth > 0, (below & is_root[None]).float().argmax(1),
        torch.full_like(leaf_depth, -1))
    # number trees in leaf order: a new tree starts where the root changes
    # (or at every single-leaf tree)
    start = torch.ones(L, dtype=torch.bool, device=right.device)
    start[1:] = (root_of_leaf[1:] != root_of_leaf[:-1]) | \
        (root_of_leaf[1:] < 0)
    leaf_tree = start.long().cumsum(0) - 1
    first_leaf = below.float().argmax(0)  # (P,) some leaf below each node
    return leaf_tree[first_leaf], leaf_tree


def validate_incidence(right: Tensor, left: Tensor) -> None:
    """Raise ``ValueError`` unless ``right`` / ``left`` describe a forest.

    Checks: no leaf on both sides of a node; every node has leaves on both
    sides; the leaf sets of any two nodes are nested or disjoint, and a
    nested set lies on one side of its ancestor.
    """
    if right.shape != left.shape or right.dim() != 2:
        raise ValueError(f'incidence matrices must both be (L, P), got '
                         f'{tuple(right.shape)} and {tuple(left.shape)}')
    if bool((right & left).any()):
        raise ValueError('a leaf lies on both sides of a node')
    if right.shape[1] and (not bool(right.any(0).all())
                           or not bool(left.any(0).all())):
        raise ValueError('every internal node needs leaves on both sides')
    c = _containment(right, left)
    size, inter = c['size'], c['inter']
    nested = (inter == size[:, None]) | (inter == size[None, :])
    if not bool((nested | (inter == 0)).all()):
        raise ValueError('node leaf sets overlap without nesting')
    inside = (inter == size[:, None]) & (size[None, :] > size[:, None])
    one_side = (c['inter_l'].t() == size[:, None]) | \
        (c['inter_r'].t() == size[:, None])
    if not bool((~inside | one_side).all()):
        raise ValueError('a subtree straddles both sides of its ancestor')


def leaf_path_index(right: Tensor, left: Tensor) -> Tensor:
    """Sparse form of the incidence matrices for :func:`route_log_probs`.

    Args:
        right (Tensor): ``(L, P)`` bool.
        left (Tensor): ``(L, P)`` bool.

    Returns:
        Tensor: ``(L, D)`` int64, ``D`` the largest leaf depth (at least
        1). Row ``l`` lists the decisions on leaf ``l``'s path from the root
        down: ``n`` for "right at node n", ``P + n`` for "left at node n",
        padded with ``2 P`` (an always-zero slot).
    """
    L, P = right.shape
    below = right | left
    node_depth, leaf_depth = node_depths(right, left)
    D = max(int(leaf_depth.max()) if L else 0, 1)
    big = P + 1
    key = torch.where(below, node_depth[None, :].expand(L, P),
                      torch.full_like(below, big, dtype=torch.long))
    order = key.argsort(dim=1, stable=True)[:, :D]  # nodes by depth
    valid = torch.gather(key, 1, order) < big
    is_right = torch.gather(right, 1, order)
    idx = torch.where(is_right, order, order + P)
    return torch.where(valid, idx, torch.full_like(idx, 2 * P))


def log_one_minus_exp_neg(d: Tensor) -> Tensor:
    """``log(1 - exp(-d))`` for ``d > 0`` without cancellation.

    Uses ``log(-expm1(-d))`` for small ``d`` and ``log1p(-exp(-d))`` for
    large ``d`` (Maechler, 2012).
    """
    return torch.where(d < 0.6931471805599453, torch.log(-torch.expm1(-d)),
                       torch.log1p(-torch.exp(-d)))


def route_log_probs(log_p: Tensor, log_1mp: Tensor,
                    path_index: Tensor) -> Tensor:
    """Log path probability of every leaf for the whole batch.

    ``log pi[b, l] = sum_n right[l, n] log p[b, n] + left[l, n]
    log(1 - p[b, n])``, computed by one gather of the ``depth`` decisions of
    each leaf (:func:`leaf_path_index`) and a sum.

    Args:
        log_p (Tensor): ``(B, P)`` log probability of going right.
        log_1mp (Tensor): ``(B, P)`` log probability of going left.
        path_index (Tensor): ``(L, D)`` from :func:`leaf_path_index`.

    Returns:
        Tensor: ``(B, L)`` log path probabilities (rows sum to 1 in
        probability space).
    """
    B = log_p.shape[0]
    L, D = path_index.shape
    logs = torch.cat([log_p, log_1mp, log_p.new_zeros(B, 1)], dim=1)
    return logs.index_select(1, path_index.reshape(-1)).view(B, L,
                                                             D).sum(-1)


def route_log_probs_matmul(log_p: Tensor, log_1mp: Tensor, right: Tensor,
                           left: Tensor) -> Tensor:
    """Dense form of :func:`route_log_probs`: two matrix products.

    Args:
        log_p (Tensor): ``(B, P)``.
        log_1mp (Tensor): ``(B, P)``.
        right (Tensor): ``(L, P)`` bool / float.
        left (Tensor): ``(L, P)`` bool / float.

    Returns:
        Tensor: ``(B, L)``.
    """
    return log_p @ right.to(log_p.dtype).t() + \
        log_1mp @ left.to(log_1mp.dtype).t()


def greedy_leaves(go_right: Tensor, path_index: Tensor) -> Tensor:
    """Leaf reached by following every hard decision from the root.

    Exactly one leaf of each tree agrees with all decisions on its path, so
    a forest gets one True per tree and row.

    Args:
        go_right (Tensor): ``(B, P)`` bool, e.g. ``p > 0.5``.
        path_index (Tensor): ``(L, D)`` from :func:`leaf_path_index`.

    Returns:
        Tensor: ``(B, L)`` bool, True for the reached leaf of each tree.
    """
    B = go_right.shape[0]
    L, D = path_index.shape
    # a mismatch is "right on the path but p <= .5" or "left but p > .5"
    miss = torch.cat([~go_right, go_right,
                      go_right.new_zeros(B, 1)], dim=1)
    wrong = miss.index_select(1, path_index.reshape(-1)).view(B, L, D)
    return ~wrong.any(-1)


def logmatmulexp(log_a: Tensor, log_b: Tensor,
                 eps: float = 0.) -> Tensor:
    """``log(exp(log_a) @ exp(log_b))`` by one matrix product, stably.

    Rows of ``log_a`` and columns of ``log_b`` are shifted by their maxima
    before exponentiation, so nothing overflows and the dominant terms
    never underflow.

    Args:
        log_a (Tensor): ``(B, L)``.
        log_b (Tensor): ``(L, C)``.
        eps (float): floor added inside the log (0: exact, may give -inf
            when every term underflows).

    Returns:
        Tensor: ``(B, C)``.
    """
    a_max = log_a.amax(1, keepdim=True).detach()  # (B, 1)
    b_max = log_b.amax(0, keepdim=True).detach()  # (1, C)
    a_max = torch.where(torch.isfinite(a_max), a_max, torch.zeros_like(a_max))
    b_max = torch.where(torch.isfinite(b_max), b_max, torch.zeros_like(b_max))
    prod = torch.exp(log_a - a_max) @ torch.exp(log_b - b_max)
    if eps > 0:
        prod = prod + eps
    return torch.log(prod) + a_max + b_max


def prune_masks(right: Tensor, left: Tensor,
                leaf_ok: Tensor) -> Tuple[Tensor, Tensor]:
    """Which nodes and leaves survive ProtoTree's pruning.

    A subtree (a leaf or an internal node with everything below it) is
    useless when none of its leaves is ``ok``. Every *maximal* useless
    subtree is removed and its parent is replaced by the sibling subtree.
    So a leaf survives iff it is ok, and an internal node survives iff it
    and both its children have an ok leaf below. A tree without any ok
    leaf is kept whole (there would be nothing left to predict with).

    Args:
        right (Tensor): ``(L, P)`` bool.
        left (Tensor): ``(L, P)`` bool.
        leaf_ok (Tensor): ``(L,)`` bool, e.g. ``max class prob > 0.01``.

    Returns:
        tuple[Tensor, Tensor]: ``keep_node (P,)``, ``keep_leaf (L,)`` bool.
        The pruned tree's incidence matrices are
        ``right[keep_leaf][:, keep_node]`` (and the same for ``left``).
    """
    okf = leaf_ok.float()
    ok_right = (right.float().t() @ okf) > 0  # (P,) an ok leaf on the right
    ok_left = (left.float().t() @ okf) > 0
    keep_node = ok_right & ok_left
    keep_leaf = leaf_ok.clone()
    # trees without a single ok leaf stay whole
    if right.shape[1]:
        node_tree, leaf_tree = tree_ids(right, left)
        T = int(leaf_tree.max()) + 1
        tree_ok = torch.zeros(T, dtype=torch.bool, device=right.device)
        tree_ok.scatter_reduce_(0, leaf_tree, leaf_ok, reduce='amax')
        keep_node |= ~tree_ok[node_tree]
        keep_leaf |= ~tree_ok[leaf_tree]
    return keep_node, keep_leaf


def subtree_classes(right: Tensor, left: Tensor,
                    leaf_class: Tensor, num_classes: int) -> Tensor:
    """Classes of the leaves below each internal node.

    Args:
        right (Tensor): ``(L, P)`` bool.
        left (Tensor): ``(L, P)`` bool.
        leaf_class (Tensor): ``(L,)`` int64 (e.g. argmax of each leaf's
            distribution).
        num_classes (int): ``C``.

    Returns:
        Tensor: ``(P, C)`` bool, ``[n, c]`` True when some leaf below ``n``
        predicts class ``c``.
    """
    onehot = torch.nn.functional.one_hot(leaf_class, num_classes).float()
    return ((right | left).float().t() @ onehot) > 0

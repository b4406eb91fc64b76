"""ProtoTreeHead against a straightforward recursive reference.

The reference is written here from the paper: explicit node objects, a
recursive forward that multiplies path probabilities node by node, greedy
routing per sample, per-leaf update loops and recursive pruning. The head
must agree with it on random full, unbalanced and pruned trees and forests.
"""
import math
import random
from typing import List, Tuple

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

import mmfg.models  # noqa: F401 (registers)
from mmfg.models.heads import ProtoTreeHead
from mmfg.models.utils import tree as T
from mmfg.registry import MODELS
from mmfg.utils import register_all_modules

torch.set_num_threads(1)


# ---------------------------------------------------------------------------
# reference trees
# ---------------------------------------------------------------------------
class Leaf:

    def __init__(self):
        self.idx = -1


class Branch:

    def __init__(self, left, right):
        self.l, self.r = left, right
        self.idx = -1


def random_tree(rng: random.Random, depth: int, p_leaf: float = 0.3,
                top: bool = True):
    """Random unbalanced tree (the root is always a branch)."""
    if depth == 0 or (not top and rng.random() < p_leaf):
        return Leaf()
    return Branch(random_tree(rng, depth - 1, p_leaf, False),
                  random_tree(rng, depth - 1, p_leaf, False))


def full_tree(depth: int):
    if depth == 0:
        return Leaf()
    return Branch(full_tree(depth - 1), full_tree(depth - 1))


def number(root, node_off: int = 0, leaf_off: int = 0) -> Tuple[int, int]:
    """Pre-order node ids, left-to-right leaf ids; returns counts."""
    counts = [node_off, leaf_off]

    def rec(n):
        if isinstance(n, Leaf):
            n.idx = counts[1]
            counts[1] += 1
            return
        n.idx = counts[0]
        counts[0] += 1
        rec(n.l)
        rec(n.r)

    rec(root)
    return counts[0] - node_off, counts[1] - leaf_off


def branches(root) -> List[Branch]:
    if isinstance(root, Leaf):
        return []
    return [root] + branches(root.l) + branches(root.r)


def leaves(root) -> List[Leaf]:
    if isinstance(root, Leaf):
        return [root]
    return leaves(root.l) + leaves(root.r)


def children_arrays(roots) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    nodes = [b for r in roots for b in branches(r)]
    P = len(nodes)
    left = torch.zeros(P, dtype=torch.long)
    right = torch.zeros(P, dtype=torch.long)

    def code(c):
        return c.idx if isinstance(c, Branch) else -(c.idx + 1)

    for b in nodes:
        left[b.idx] = code(b.l)
        right[b.idx] = code(b.r)
    leaf_tree = torch.cat([
        torch.full((len(leaves(r)), ), t, dtype=torch.long)
        for t, r in enumerate(roots)
    ])
    return left, right, leaf_tree


def make_head(roots, num_classes=6, in_channels=12, D=8, seed=0,
              leaf_learning='derivative_free', **kw) -> ProtoTreeHead:
    """A head built from config, then given the reference topology through
    its (resizing) state-dict loading path."""
    P = L = 0
    for r in roots:
        n_nodes, n_leaves = number(r, P, L)
        P, L = P + n_nodes, L + n_leaves
    left, right, leaf_tree = children_arrays(roots)
    head = MODELS.build(
        dict(type='ProtoTreeHead', num_classes=num_classes,
             in_channels=in_channels, depth=2, proto_channels=D,
             num_trees=len(roots), leaf_learning=leaf_learning, **kw))
    g = torch.Generator().manual_seed(seed)
    sd = head.state_dict()
    sd['tree_left'], sd['tree_right'], sd['leaf_tree'] = left, right, \
        leaf_tree
    # the paper's init (p_right > 0.5: go right) plus a far shift on some
    # prototypes (p_right < 0.5): both directions are taken
    protos = torch.randn(P, D, generator=g) * 0.1 + 0.5
    far = torch.rand(P, generator=g) < 0.4
    sd['prototypes'] = protos + 0.6 * far[:, None].float()
    sd['leaf_params'] = torch.randn(L, num_classes, generator=g) * 2
    s = sd['proto_patches'].shape[1]
    sd['proto_patches'] = torch.zeros(P, s, s, 3, dtype=torch.uint8)
    sd['proto_source'] = torch.full((P, 3), -1, dtype=torch.long)
    head.load_state_dict(sd)
    return head


class Reference:
    """The recursive ProtoTree of the paper, one node at a time."""

    def __init__(self, roots, prototypes, leaf_params, add_on, D):
        self.roots = roots
        self.protos = prototypes.detach()
        self.leaf_params = leaf_params.detach()
        self.add_on = add_on
        self.D = D

    def similarities(self, x):
        z = self.add_on(x)
        B = z.shape[0]
        ps = torch.zeros(B, self.protos.shape[0])
        for t, root in enumerate(self.roots):
            zt = z[:, t * self.D:(t + 1) * self.D]
            for b in branches(root):
                p = self.protos[b.idx].view(1, -1, 1, 1)
                d = ((zt - p)**2).sum(1)
                d = torch.sqrt(d + 1e-14).flatten(1).min(1).values
                ps[:, b.idx] = torch.exp(-d)
        return ps

    def forward(self, x):
        ps = self.similarities(x)
        B = x.shape[0]
        pa = {}

        def rec(node, path_prob):
            if isinstance(node, Leaf):
                pa[node.idx] = path_prob
                dist = F.softmax(self.leaf_params[node.idx], 0)
                return dist[None].expand(B, -1)
            p = ps[:, node.idx]
            left = rec(node.l, path_prob * (1 - p))
            right = rec(node.r, path_prob * p)
            return (1 - p)[:, None] * left + p[:, None] * right

        ys = [rec(r, torch.ones(B)) for r in self.roots]
        sm_leaf, gr_leaf = [], []
        for root in self.roots:
            lv = leaves(root)
            stack = torch.stack([pa[leaf.idx] for leaf in lv], 1)
            sm_leaf.append([lv[i].idx for i in stack.argmax(1).tolist()])
            gl = []
            for i in range(B):
                node = root
                while isinstance(node, Branch):
                    node = node.r if ps[i, node.idx].item() > 0.5 else node.l
                gl.append(node.idx)
            gr_leaf.append(gl)
        return dict(ys=torch.stack(ys, 1), pa=pa, ps=ps,
                    sample_max_leaf=torch.tensor(sm_leaf).t(),
                    greedy_leaf=torch.tensor(gr_leaf).t())


def reference_for(head, roots):
    return Reference(roots, head.prototypes, head.leaf_params,
                     head.add_on, head.proto_channels)


def forests(seed: int):
    rng = random.Random(seed)
    return {
        'full': [full_tree(4)],
        'unbalanced': [random_tree(rng, 6)],
        'forest': [random_tree(rng, 5), full_tree(3), random_tree(rng, 4)],
    }


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------
def test_full_tree_children_matches_reference_numbering():
    for depth in (1, 2, 5):
        root = full_tree(depth)
        number(root)
        left, right, _ = children_arrays([root])
        l2, r2 = T.full_tree_children(depth)
        assert torch.equal(left, l2) and torch.equal(right, r2)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_incidence_roundtrip_and_validation(seed):
    for name, roots in forests(seed).items():
        head = make_head(roots)
        R, Lm = head.right_inc, head.left_inc
        # reference incidence: walk each leaf's path recursively
        R_ref = torch.zeros_like(R)
        L_ref = torch.zeros_like(Lm)
        depth_ref = torch.zeros(R.shape[0], dtype=torch.long)

        def rec(node, anc):
            if isinstance(node, Leaf):
                depth_ref[node.idx] = len(anc)
                for n, side in anc:
                    (R_ref if side else L_ref)[node.idx, n] = True
                return
            rec(node.l, anc + [(node.idx, False)])
            rec(node.r, anc + [(node.idx, True)])

        for r in roots:
            rec(r, [])
        assert torch.equal(R, R_ref) and torch.equal(Lm, L_ref), name
        left, right = T.children_from_incidence(R, Lm)
        assert torch.equal(left, head.tree_left)
        assert torch.equal(right, head.tree_right)
        node_tree, leaf_tree = T.tree_ids(R, Lm)
        assert torch.equal(leaf_tree, head.leaf_tree)
        assert torch.equal(node_tree, head.node_tree)
        _, leaf_depth = T.node_depths(R, Lm)
        assert torch.equal(leaf_depth, depth_ref)
        assert torch.equal(head.leaf_depth, depth_ref)
    bad = head.right_inc.clone()
    bad[0, :] = head.left_inc[0, :]  # leaf on both sides of its nodes
    with pytest.raises(ValueError):
        T.validate_incidence(bad, head.left_inc)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_forward_equals_recursive_reference(seed):
    torch.manual_seed(seed)
    for name, roots in forests(seed).items():
        head = make_head(roots, seed=seed)
        ref = reference_for(head, roots)
        x = torch.randn(5, 12, 3, 4)
        with torch.no_grad():
            out = head.route((x, ))
            dec = head.decide(out)
            r = ref.forward(x)
        # path probabilities of every leaf
        pa = torch.stack([r['pa'][j] for j in range(head.num_leaves)], 1)
        torch.testing.assert_close(out['log_pi'].exp(), pa, rtol=1e-5,
                                   atol=1e-6, msg=name)
        # soft output of every tree and of the ensemble
        torch.testing.assert_close(out['log_y'].exp(), r['ys'], rtol=1e-5,
                                   atol=1e-6, msg=name)
        torch.testing.assert_close(dec['soft'], r['ys'].mean(1),
                                   rtol=1e-5, atol=1e-6)
        p = r['ps']
        assert bool((p > 0.5).any()) and bool((p <= 0.5).any()), name
        # sample_max and greedy: same leaves, same distributions
        assert torch.equal(dec['sample_max_leaf'], r['sample_max_leaf'])
        assert torch.equal(dec['greedy_leaf'], r['greedy_leaf']), name
        dist = F.softmax(head.leaf_params, 1)
        torch.testing.assert_close(dec['greedy'],
                                   dist[r['greedy_leaf']].mean(1))
        torch.testing.assert_close(dec['sample_max'],
                                   dist[r['sample_max_leaf']].mean(1))
        # forward() modes are log-probabilities of the same
        for mode in ('soft', 'sample_max', 'greedy'):
            torch.testing.assert_close(
                head((x, ), mode=mode).exp(), dec[mode], rtol=1e-5,
                atol=1e-6)


def test_greedy_is_exercised_on_both_sides():
    """Greedy routing must take both directions (prototypes near and far)."""
    roots = [full_tree(3)]
    head = make_head(roots)
    x = torch.randn(64, 12, 2, 2) * 3
    with torch.no_grad():
        z = head.latent((x, ))[:, 0]
        # put half of the prototypes on real latent patches (p = 1 > .5)
        head.prototypes.data[::2] = z[:4, :, 0, 0][:head.prototypes[::2]
                                                   .shape[0]]
        out = head.route((x, ))
    p = torch.exp(-out['min_dist'])
    assert bool((p > 0.5).any()) and bool((p <= 0.5).any())
    ref = reference_for(head, roots).forward(x)
    assert torch.equal(head.decide(out)['greedy_leaf'], ref['greedy_leaf'])
    assert len(set(ref['greedy_leaf'].flatten().tolist())) > 1


def test_routing_gather_equals_matmul_and_sums_to_one():
    head = make_head(forests(3)['forest'])
    B, P = 7, head.num_prototypes
    d = torch.rand(B, P) * 3 + 1e-3
    lp, l1 = -d, T.log_one_minus_exp_neg(d)
    a = T.route_log_probs(lp, l1, head.path_index)
    b = T.route_log_probs_matmul(lp, l1, head.right_inc, head.left_inc)
    torch.testing.assert_close(a, b)
    per_tree = torch.zeros(B, head.num_trees).index_add_(
        1, head.leaf_tree, a.exp())
    torch.testing.assert_close(per_tree, torch.ones(B, head.num_trees))
    # log(1 - exp(-d)) is accurate at both ends
    dd = torch.tensor([1e-6, 0.1, 0.69, 0.7, 5., 40.], dtype=torch.float64)
    torch.testing.assert_close(
        T.log_one_minus_exp_neg(dd.float()).double(),
        torch.log1p(-torch.exp(-dd)), rtol=1e-5, atol=0)


def test_logmatmulexp_is_stable():
    a = torch.randn(4, 9) - 300  # exp underflows in float32
    b = torch.randn(9, 5) - 200
    ref = torch.logsumexp(a.double()[:, :, None] + b.double()[None], 1)
    torch.testing.assert_close(T.logmatmulexp(a, b).double(), ref,
                               rtol=1e-5, atol=1e-4)


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


@pytest.mark.parametrize('forest', ['full', 'forest'])
def test_leaf_update_equals_per_leaf_formula(forest):
    roots = forests(4)[forest]
    head = make_head(roots, num_classes=6)
    x = torch.randn(9, 12, 3, 3)
    labels = torch.randint(0, 6, (9, ))
    ref = reference_for(head, roots).forward(x)
    target = F.one_hot(labels, 6).float()
    leaf_tree = head.leaf_tree.tolist()
    expected = torch.zeros(head.num_leaves, 6)
    for j in range(head.num_leaves):  # the paper's per-leaf loop
        dist = F.softmax(head.leaf_params[j], 0)
        y = ref['ys'][:, leaf_tree[j]]
        expected[j] = ((ref['pa'][j][:, None] * dist[None] * target) /
                       y).sum(0)
    start = head.leaf_params.clone()
    n_batches = 4
    head.begin_leaf_epoch(n_batches)
    losses = head.loss((x, ), _samples(labels))
    torch.testing.assert_close(head._pending_leaf_update, expected,
                               rtol=1e-4, atol=1e-5)
    # loss = mean over trees of NLL(log y)
    nll = -torch.log(ref['ys'][torch.arange(9), :, labels]).mean()
    torch.testing.assert_close(losses['loss'], nll, rtol=1e-5, atol=1e-5)
    head.apply_leaf_update()
    torch.testing.assert_close(
        head.leaf_params,
        (start - start / n_batches).clamp_min(0) + expected, rtol=1e-4,
        atol=1e-5)
    # no gradient reaches derivative-free leaves
    assert not isinstance(head.leaf_params, torch.nn.Parameter)


def test_derivative_free_needs_the_hook_and_gradient_mode_trains_leaves():
    x = torch.randn(3, 12, 2, 2)
    head = make_head([full_tree(2)])
    with pytest.raises(RuntimeError, match='ProtoTreeLeafUpdateHook'):
        head.loss((x, ), _samples([0, 1, 2]))
    head = make_head([full_tree(2)], leaf_learning='gradient')
    loss = head.loss((x, ), _samples([0, 1, 2]))['loss']
    loss.backward()
    assert isinstance(head.leaf_params, torch.nn.Parameter)
    assert head.leaf_params.grad.abs().sum() > 0
    assert head.prototypes.grad.abs().sum() > 0
    assert head.add_on[0].weight.grad.abs().sum() > 0


def test_full_epoch_of_updates_replaces_start_params():
    """After n_batches updates the epoch-start leaves are gone (relu aside):
    leaves = sum of the epoch's updates."""
    head = make_head([full_tree(3)], num_classes=4)
    head.leaf_params.uniform_(0, 1)
    xs = [torch.randn(6, 12, 2, 2) for _ in range(3)]
    ys = [torch.randint(0, 4, (6, )) for _ in range(3)]
    head.begin_leaf_epoch(3)
    total = torch.zeros_like(head.leaf_params)
    for x, y in zip(xs, ys):
        head.loss((x, ), _samples(y))
        total += head._pending_leaf_update
        head.apply_leaf_update()
    torch.testing.assert_close(head.leaf_params, total, rtol=1e-4,
                               atol=1e-5)


# ---------------------------------------------------------------------------
# pruning
# ---------------------------------------------------------------------------
def ref_prune(root, ok):
    """Recursive pruning of the paper: drop maximal subtrees without an ok
    leaf, the sibling takes the parent's place."""

    def good(n):
        return any(ok[leaf.idx] for leaf in leaves(n))

    if not good(root):
        return root

    def rec(n):
        if isinstance(n, Leaf):
            return n
        gl, gr = good(n.l), good(n.r)
        if gl and gr:
            b = Branch(rec(n.l), rec(n.r))
            b.idx = n.idx
            return b
        return rec(n.l) if gl else rec(n.r)

    return rec(root)


def structure(root):
    """Nested tuples of original ids."""
    if isinstance(root, Leaf):
        return ('leaf', root.idx)
    return (root.idx, structure(root.l), structure(root.r))


def head_structure(head, node_ids, leaf_ids):
    """Nested tuples of the head's tree(s) in original ids."""
    left, right = head.tree_left.tolist(), head.tree_right.tolist()

    def rec(c):
        if c < 0:
            return ('leaf', leaf_ids[-c - 1])
        return (node_ids[c], rec(left[c]), rec(right[c]))

    out = []
    for t in range(head.num_trees):
        nodes = [n for n in range(head.num_prototypes)
                 if head.node_tree[n] == t and head.node_depth[n] == 0]
        if nodes:
            out.append(rec(nodes[0]))
        else:
            j = head.leaf_tree.tolist().index(t)
            out.append(('leaf', leaf_ids[j]))
    return out


@pytest.mark.parametrize('seed', range(6))
def test_pruning_removes_exactly_the_right_subtrees(seed):
    rng = random.Random(seed)
    C = 150  # a uniform leaf has max prob 1/150 < 0.01
    roots = [full_tree(4)] if seed % 2 == 0 else \
        [random_tree(rng, 5), full_tree(3)]
    head = make_head(roots, num_classes=C, seed=seed)
    L = head.num_leaves
    ok = [rng.random() < 0.35 for _ in range(L)]
    params = torch.zeros(L, C)
    for j in range(L):
        if ok[j]:
            params[j, rng.randrange(C)] = 5.0  # peaked: max prob >> 0.01
    head.leaf_params.copy_(params)
    # remember ids through the (unique) prototype and leaf rows
    protos = head.prototypes.detach().clone()
    leaf_rows = head.leaf_params.clone()
    leaf_rows[:, 0] += torch.arange(L).float() * 1e-3
    head.leaf_params.copy_(leaf_rows)
    x = torch.randn(4, 12, 2, 2)
    stats = head.prune()
    node_ids = [int(torch.where((protos == p).all(1))[0])
                for p in head.prototypes.detach()]
    leaf_ids = [int(torch.where((leaf_rows == r).all(1))[0])
                for r in head.leaf_params]
    expected = [structure(ref_prune(r, ok)) for r in roots]
    assert head_structure(head, node_ids, leaf_ids) == expected
    assert stats['nodes_after'] == head.num_prototypes
    assert stats['leaves_after'] == head.num_leaves
    kept = [len(branches(ref_prune(r, ok))) for r in roots]
    assert head.num_prototypes == sum(kept)
    # the pruned head still equals the recursive reference on its tree
    pruned_roots = [ref_prune(r, ok) for r in roots]
    P = Lc = 0
    for r in pruned_roots:
        n_nodes, n_leaves = number(r, P, Lc)
        P, Lc = P + n_nodes, Lc + n_leaves
    ref = Reference(pruned_roots, head.prototypes, head.leaf_params,
                    head.add_on, head.proto_channels)
    with torch.no_grad():
        out = head.route((x, ))
        r = ref.forward(x)
    torch.testing.assert_close(out['log_y'].exp(), r['ys'], rtol=1e-5,
                               atol=1e-6)
    assert torch.equal(head.decide(out)['greedy_leaf'], r['greedy_leaf'])


def test_pruning_keeps_a_tree_without_good_leaves_and_prunes_root():
    C = 150
    head = make_head([full_tree(2)], num_classes=C)
    head.leaf_params.zero_()
    assert head.prune()['nodes_after'] == 3
    # only leaf 3 (right-right) is good: root and node 2's siblings go
    head.leaf_params.zero_()
    head.leaf_params[3, 7] = 6.0
    stats = head.prune()
    assert stats == dict(nodes_before=3, leaves_before=4, nodes_after=0,
                         leaves_after=1)
    x = torch.randn(2, 12, 2, 2)
    with torch.no_grad():
        y = head((x, )).exp()
    expected = F.softmax(head.leaf_params, 1).expand(2, -1)
    torch.testing.assert_close(y, expected)


def test_pruned_checkpoint_loads_into_full_size_head():
    head = make_head([full_tree(4)], num_classes=150)
    head.leaf_params.zero_()
    head.leaf_params[::3, 1] = 6.0
    head.prune()
    fresh = MODELS.build(
        dict(type='ProtoTreeHead', num_classes=150, in_channels=12, depth=4,
             proto_channels=8, patch_size=32))
    param = fresh.prototypes
    fresh.load_state_dict(head.state_dict())
    assert fresh.prototypes is param  # optimisers keep their reference
    assert fresh.proto_patches.shape == head.proto_patches.shape
    assert fresh.num_prototypes == head.num_prototypes < 15
    x = torch.randn(3, 12, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(fresh((x, )), head((x, )))
        for m in ('sample_max', 'greedy'):
            torch.testing.assert_close(fresh((x, ), mode=m),
                                       head((x, ), mode=m))


def test_projection_allowed_are_leaf_classes_below():
    roots = [full_tree(2)]
    head = make_head(roots, num_classes=5)
    head.leaf_params.zero_()
    for j, c in enumerate([0, 3, 3, 4]):
        head.leaf_params[j, c] = 2.0
    allowed = head.projection_allowed()
    # root: all leaves; node 1 (left): leaves 0, 1; node 2: leaves 2, 3
    assert allowed[0].nonzero().flatten().tolist() == [0, 3, 4]
    assert allowed[1].nonzero().flatten().tolist() == [0, 3]
    assert allowed[2].nonzero().flatten().tolist() == [3, 4]


# ---------------------------------------------------------------------------
# config, predict, AMP
# ---------------------------------------------------------------------------
def test_build_from_config_in_classifier_and_predict():
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmfg'):
        model = _build_classifier()
    assert model.head.num_prototypes == 14 and model.head.num_leaves == 16
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        preds = model(x, mode='predict')
    assert len(preds) == 2
    for p in preds:
        torch.testing.assert_close(p.pred_score.sum(), torch.tensor(1.))
        assert p.tree_pred_labels.shape == (3, )
        assert p.pred_label.item() == p.tree_pred_labels[2].item()
        assert p.tree_path_lengths.tolist() == [3.0, 3.0]


def _build_classifier():
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
            head=dict(type='ProtoTreeHead', num_classes=4, in_channels=512,
                      depth=3, proto_channels=16, num_trees=2,
                      inference_mode='greedy')))


def test_feature_vector_input_is_rejected_clearly():
    head = make_head([full_tree(2)])
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        head((torch.randn(2, 12), ))


def test_bf16_autocast_keeps_distances_in_float32():
    head = make_head([full_tree(3)], leaf_learning='gradient')
    x = torch.randn(4, 12, 3, 3)
    with torch.no_grad():
        ref = head((x, ))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = head((x, ))
    assert out.dtype == torch.float32
    # only the add-on runs in bf16
    torch.testing.assert_close(out, ref, rtol=0, atol=0.05)
    assert math.isfinite(float(out.sum()))


def test_min_squared_l2_equals_min_pooled_map_with_same_gradient():
    """The shared distance extension used by the head (value and grad)."""
    from mmfg.models.utils import min_squared_l2, squared_l2_map
    x = torch.randn(3, 5, 4, 3, requires_grad=True)
    p = torch.randn(7, 5, requires_grad=True)
    d, idx = min_squared_l2(x, p)
    full = squared_l2_map(x, p).flatten(2)
    ref, ref_idx = full.min(-1)
    torch.testing.assert_close(d, ref)
    assert torch.equal(idx, ref_idx)
    w = torch.randn(3, 7)
    gx, gp = torch.autograd.grad((d * w).sum(), (x, p))
    rx, rp = torch.autograd.grad((ref * w).sum(), (x, p))
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gp, rp)


def test_route_with_maps_matches_fast_path():
    head = make_head(forests(5)['forest'])
    x = torch.randn(4, 12, 3, 3)
    with torch.no_grad():
        fast = head.route((x, ))
        full = head.route((x, ), with_maps=True)
    torch.testing.assert_close(fast['min_dist'], full['min_dist'])
    torch.testing.assert_close(fast['log_y'], full['log_y'])
    assert full['dist_map'].shape == (4, head.num_prototypes, 3, 3)


@pytest.mark.parametrize('mode', ['soft', 'greedy', 'sample_max'])
def test_forward_traces_without_graph_breaks(mode):
    """torch.compile sees the whole routing as one graph (no host syncs,
    no data-dependent Python control flow)."""
    import torch._dynamo as dynamo
    head = make_head(forests(6)['forest'])
    x = torch.randn(3, 12, 3, 3)
    dynamo.reset()
    explanation = dynamo.explain(lambda t: head((t, ), mode=mode))(x)
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1

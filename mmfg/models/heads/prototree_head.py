"""ProtoTree head: a soft binary tree of prototypes (Nauta et al., CVPR 2021).

"Neural Prototype Trees for Interpretable Fine-grained Image Recognition".
Every internal node holds one prototype; the probability of going right at
a node is ``exp(-d)``, ``d`` the smallest L2 distance between the prototype
and any latent patch of the image; each leaf holds a class distribution;
the output is the path-probability-weighted mixture of leaf distributions.

Everything is vectorised: the whole batch is routed through the whole tree
(or forest) by one gather over the leaf x node incidence structure of
:mod:`mmfg.models.utils.tree`, so pruned, unbalanced trees need no special
case and run at the speed of their size. Distances come from
:func:`mmfg.models.utils.l2_map` (matrix products).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.registry import MODELS
from ..utils.distances import l2_map, min_squared_l2
from ..utils.tree import (children_from_incidence, full_tree_children,
                          greedy_leaves, incidence_from_children,
                          leaf_path_index, log_one_minus_exp_neg, logmatmulexp,
                          node_depths, prune_masks, route_log_probs,
                          subtree_classes, validate_incidence)

__all__ = ['ProtoTreeHead']

_MODES = ('soft', 'sample_max', 'greedy')
_LEAF_LEARNING = ('derivative_free', 'gradient')


@MODELS.register_module()
class ProtoTreeHead(ClsHead):
    """ProtoTree classification head (one tree or an ensemble of trees).

    Takes the last backbone feature map ``feats[-1]`` ``(B, C_in, H, W)``;
    add-on ``1x1 conv (no bias) -> Sigmoid`` gives the latent map
    ``(B, D, H, W)`` of each tree; ``2 ** depth - 1`` prototypes ``(D,)`` per
    tree (initialised ``N(0.5, 0.1)``) are compared with every latent patch
    by L2 distance, min-pooled; ``p_right = exp(-d)``; the output of a tree
    is ``y = sum_leaves pi_leaf * softmax(leaf_params)`` and the loss is the
    NLL of ``log y`` (``CrossEntropyLoss`` on ``log y`` is exactly that
    because ``y`` sums to one, so the default ``loss`` needs no special
    module). An ensemble (``num_trees > 1``) shares the backbone; each tree
    has its own add-on, prototypes and leaves, is trained by its own NLL (the
    mean over trees is returned) and predictions average the trees'
    distributions.

    Leaf learning (``leaf_learning``):

    - ``'derivative_free'`` (paper): leaves are not trained by gradient.
      :meth:`loss` computes the batch update
      ``u_l = sum_x pi_l(x) * sigma_l * onehot(y_x) / y_hat(x)`` (one matrix
      product for all leaves) and :class:`ProtoTreeLeafUpdateHook` applies
      ``params -= params_at_epoch_start / n_batches; relu; params += u``
      after each iteration, with ``u`` summed over DDP ranks, so every rank
      holds the same leaves.
    - ``'gradient'``: leaf parameters are ordinary parameters.

    Inference (``inference_mode``, also :meth:`forward`'s ``mode``):
    ``'soft'`` (the whole mixture), ``'sample_max'`` (the leaf with the
    largest path probability) or ``'greedy'`` (follow ``p_right > 0.5`` from
    the root). :meth:`predict` always records the labels of all three modes
    and the path lengths of the deterministic ones (fields
    ``tree_pred_labels (3,)`` and ``tree_path_lengths (2,)``) for the
    ``TreeFidelity`` metric.

    Args:
        num_classes (int): number of classes ``C``.
        in_channels (int): channels of the backbone feature map ``C_in``.
        depth (int): decision levels of each tree (paper: 9, i.e. 511
            prototypes and 512 leaves).
        proto_channels (int): prototype / latent dimension ``D`` (256).
        num_trees (int): trees in the ensemble (paper's ensemble: 5).
        leaf_learning (str): ``'derivative_free'`` or ``'gradient'``.
        inference_mode (str): ``'soft'``, ``'sample_max'`` or ``'greedy'``.
        prune_threshold (float): a subtree is pruned when every leaf below
            it has max class probability ``<= prune_threshold`` (0.01).
        patch_size (int): side of the stored RGB thumbnail of each
            prototype's source patch (filled by projection, shown in
            explanations; 0 disables them).
        loss (dict): loss on ``log y`` (default: NLL via
            ``CrossEntropyLoss``).
        topk (int | tuple[int]): as :class:`ClsHead`.
        cal_acc (bool): as :class:`ClsHead`.
        init_cfg (dict, optional): as :class:`BaseModule`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 depth: int = 9,
                 proto_channels: int = 256,
                 num_trees: int = 1,
                 leaf_learning: str = 'derivative_free',
                 inference_mode: str = 'soft',
                 prune_threshold: float = 0.01,
                 patch_size: int = 64,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc,
                         init_cfg=init_cfg)
        if leaf_learning not in _LEAF_LEARNING:
            raise ValueError(f'ProtoTreeHead: leaf_learning must be one of '
                             f'{_LEAF_LEARNING}, got {leaf_learning!r}')
        if inference_mode not in _MODES:
            raise ValueError(f'ProtoTreeHead: inference_mode must be one of '
                             f'{_MODES}, got {inference_mode!r}')
        if depth < 1 or num_trees < 1:
            raise ValueError('ProtoTreeHead: depth and num_trees must be '
                             f'>= 1, got depth={depth}, '
                             f'num_trees={num_trees}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.depth = depth
        self.proto_channels = proto_channels
        self.num_trees = num_trees
        self.leaf_learning = leaf_learning
        self.inference_mode = inference_mode
        self.prune_threshold = prune_threshold
        self.patch_size = patch_size

        self.add_on = nn.Sequential(
            nn.Conv2d(in_channels, num_trees * proto_channels, 1,
                      bias=False), nn.Sigmoid())

        # forest topology: child arrays of all trees (global indices)
        l1, r1 = full_tree_children(depth)
        P1, L1 = l1.numel(), 2**depth
        lefts, rights = [], []
        for t in range(num_trees):  # a handful of trees, once
            lefts.append(torch.where(l1 >= 0, l1 + t * P1, l1 - t * L1))
            rights.append(torch.where(r1 >= 0, r1 + t * P1, r1 - t * L1))
        P, L = P1 * num_trees, L1 * num_trees
        self.register_buffer('tree_left', torch.cat(lefts))
        self.register_buffer('tree_right', torch.cat(rights))
        self.register_buffer(
            'leaf_tree',
            torch.arange(num_trees).repeat_interleave(L1))

        self.prototypes = nn.Parameter(
            torch.randn(P, proto_channels) * 0.1 + 0.5)
        if leaf_learning == 'gradient':
            self.leaf_params = nn.Parameter(torch.randn(L, num_classes))
        else:
            self.register_buffer('leaf_params', torch.zeros(L, num_classes))
        s = max(patch_size, 0)
        self.register_buffer('proto_patches',
                             torch.zeros(P, s, s, 3, dtype=torch.uint8))
        # (img_idx, h, w) of each prototype's source patch; -1: none
        self.register_buffer('proto_source',
                             torch.full((P, 3), -1, dtype=torch.long))

        self._leaf_epoch_start: Optional[Tensor] = None
        self._leaf_num_batches = 0
        self._pending_leaf_update: Optional[Tensor] = None
        self._rebuild_topology()

    # ------------------------------------------------------------------
    # topology
    # ------------------------------------------------------------------
    @property
    def num_prototypes(self) -> int:
        """Internal nodes (= prototypes) of all trees."""
        return self.tree_left.numel()

    @property
    def num_leaves(self) -> int:
        """Leaves of all trees."""
        return self.leaf_tree.numel()

    def _rebuild_topology(self) -> None:
        """Derive the incidence matrices and routing index from the child
        arrays (after init, pruning and checkpoint loading)."""
        L = self.num_leaves
        right, left = incidence_from_children(self.tree_left,
                                              self.tree_right, L)
        validate_incidence(right, left)
        if L and not bool((self.leaf_tree[1:] >= self.leaf_tree[:-1]).all()):
            raise ValueError('ProtoTreeHead: leaves must be grouped by tree')
        # a node belongs to the tree of any leaf below it
        node_tree = self.leaf_tree[(right | left).float().argmax(0)] \
            if self.num_prototypes else self.leaf_tree.new_zeros(0)
        if not bool((node_tree[1:] >= node_tree[:-1]).all()):
            raise ValueError('ProtoTreeHead: nodes must be grouped by tree')
        node_depth, leaf_depth = node_depths(right, left)
        dev = self.tree_left.device
        self.register_buffer('right_inc', right, persistent=False)
        self.register_buffer('left_inc', left, persistent=False)
        self.register_buffer('path_index', leaf_path_index(right, left),
                             persistent=False)
        self.register_buffer('node_tree', node_tree, persistent=False)
        self.register_buffer('node_depth', node_depth, persistent=False)
        self.register_buffer('leaf_depth', leaf_depth, persistent=False)
        onehot = F.one_hot(self.leaf_tree, self.num_trees).bool() \
            if L else torch.zeros(0, self.num_trees, dtype=torch.bool,
                                  device=dev)
        self.register_buffer('leaf_tree_onehot', onehot, persistent=False)
        # nodes of each tree are contiguous: host-side offsets for slicing
        counts = torch.bincount(self.node_tree.cpu(),
                                minlength=self.num_trees).tolist()
        self._node_ptr = [0] + np.cumsum(counts).tolist()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Accept checkpoints of pruned trees (and other patch sizes): resize
        the topology, prototypes, leaves and thumbnails to the checkpoint's
        before loading."""
        key_p, key_l = prefix + 'tree_left', prefix + 'leaf_tree'
        if key_p in state_dict and key_l in state_dict:
            P = state_dict[key_p].numel()
            L = state_dict[key_l].numel()
            if P != self.num_prototypes or L != self.num_leaves:
                self._resize(P, L)
        key_s = prefix + 'proto_patches'
        if key_s in state_dict and \
                state_dict[key_s].shape != self.proto_patches.shape:
            self.proto_patches = self.proto_patches.new_zeros(
                state_dict[key_s].shape)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        self._rebuild_topology()

    def _resize(self, P: int, L: int) -> None:
        """Give every per-node / per-leaf tensor ``P`` / ``L`` rows (values
        are placeholders, overwritten by a load). Parameters keep their
        identity (only ``.data`` changes), so an optimiser built before a
        checkpoint is loaded still holds them."""
        dev = self.prototypes.device
        self.tree_left = torch.zeros(P, dtype=torch.long, device=dev)
        self.tree_right = torch.zeros(P, dtype=torch.long, device=dev)
        self.leaf_tree = torch.zeros(L, dtype=torch.long, device=dev)
        self.prototypes.data = self.prototypes.new_zeros(
            P, self.proto_channels)
        self._set_leaf_params(self.leaf_params.new_zeros(L,
                                                         self.num_classes))
        s = self.proto_patches.shape[1]
        self.proto_patches = self.proto_patches.new_zeros(P, s, s, 3)
        self.proto_source = self.proto_source.new_full((P, 3), -1)

    def _set_leaf_params(self, value: Tensor) -> None:
        if isinstance(self.leaf_params, nn.Parameter):
            self.leaf_params.data = value
        else:
            self.leaf_params = value

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def pre_logits(self, feats: Sequence[Tensor]) -> Tensor:
        """The last backbone feature map ``(B, C_in, H, W)``."""
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if x.dim() != 4:
            raise ValueError(
                'ProtoTreeHead needs a feature map (B, C, H, W) from the '
                f'backbone/neck, got shape {tuple(x.shape)}. Remove the '
                'GlobalAveragePooling neck from the config.')
        return x

    def latent(self, feats: Sequence[Tensor]) -> Tensor:
        """Add-on output of every tree.

        Args:
            feats (tuple[Tensor]): backbone outputs, last ``(B, C_in, H, W)``.

        Returns:
            Tensor: ``(B, T, D, H, W)`` in ``[0, 1]``.
        """
        z = self.add_on(self.pre_logits(feats))
        B, _, H, W = z.shape
        return z.view(B, self.num_trees, self.proto_channels, H, W)

    def distance_maps(self, z: Tensor) -> Tensor:
        """L2 distance of every prototype to every latent patch of its tree.

        Computed in float32 (autocast off): the matmul form of the distance
        cancels catastrophically in half precision.

        Args:
            z (Tensor): ``(B, T, D, H, W)`` from :meth:`latent`.

        Returns:
            Tensor: ``(B, P, H, W)``.
        """
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.float()
            protos = self.prototypes.float()
            if self.num_trees == 1:
                return l2_map(z[:, 0], protos)
            ptr = self._node_ptr
            return torch.cat([
                l2_map(z[:, t], protos[ptr[t]:ptr[t + 1]])
                for t in range(self.num_trees)  # trees, not nodes
            ], dim=1)

    def leaf_log_distributions(self) -> Tensor:
        """``log softmax(leaf_params)``: ``(L, C)``."""
        return F.log_softmax(self.leaf_params.float(), dim=-1)

    def leaf_distributions(self) -> Tensor:
        """``softmax(leaf_params)``: ``(L, C)``."""
        return F.softmax(self.leaf_params.float(), dim=-1)

    def min_distances(self, z: Tensor) -> Tensor:
        """Smallest L2 distance of every prototype to its tree's latent
        patches, ``sqrt(min |z - p|^2 + 1e-14)`` (float32, autocast off).

        Uses :func:`mmfg.models.utils.min_squared_l2`, whose backward only
        touches the nearest patches (the result equals min-pooling
        :meth:`distance_maps`).

        Args:
            z (Tensor): ``(B, T, D, H, W)`` from :meth:`latent`.

        Returns:
            Tensor: ``(B, P)``.
        """
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.float()
            protos = self.prototypes.float()
            if self.num_trees == 1:
                d2 = min_squared_l2(z[:, 0], protos)[0]
            else:
                ptr = self._node_ptr
                d2 = torch.cat([
                    min_squared_l2(z[:, t], protos[ptr[t]:ptr[t + 1]])[0]
                    for t in range(self.num_trees)  # trees, not nodes
                ], dim=1)
            return (d2 + 1e-14).sqrt()

    def route(self,
              feats: Sequence[Tensor],
              with_maps: bool = False) -> Dict[str, Tensor]:
        """Run the tree on backbone features.

        Args:
            feats (tuple[Tensor]): backbone outputs.
            with_maps (bool): also return the full distance maps (for
                explanations; slower to differentiate).

        Returns:
            dict[str, Tensor]: ``latent (B, T, D, H, W)``,
            ``min_dist (B, P)``, ``log_pi (B, L)`` log path probability of
            every leaf, ``log_y (B, T, C)`` log output distribution of every
            tree and, with ``with_maps``, ``dist_map (B, P, H, W)``.
        """
        z = self.latent(feats)
        out = dict(latent=z)
        if with_maps:
            dmap = self.distance_maps(z)
            d = dmap.flatten(2).amin(-1)  # (B, P)
            out['dist_map'] = dmap
        else:
            d = self.min_distances(z)
        with torch.autocast(device_type=d.device.type, enabled=False):
            log_pi = route_log_probs(-d, log_one_minus_exp_neg(d),
                                     self.path_index)
            log_y = self._tree_outputs(log_pi)
        out.update(min_dist=d, log_pi=log_pi, log_y=log_y)
        return out

    def _tree_outputs(self, log_pi: Tensor) -> Tensor:
        """``log y`` of every tree: ``(B, L) -> (B, T, C)``."""
        log_leaf = self.leaf_log_distributions()  # (L, C)
        B, L = log_pi.shape
        tiny = torch.finfo(torch.float32).tiny
        if self.num_trees == 1:
            return logmatmulexp(log_pi, log_leaf, eps=tiny).unsqueeze(1)
        block = torch.where(self.leaf_tree_onehot[:, :, None],
                            log_leaf[:, None, :],
                            log_leaf.new_tensor(-math.inf))  # (L, T, C)
        out = logmatmulexp(log_pi, block.view(L, -1), eps=tiny)
        return out.view(B, self.num_trees, self.num_classes)

    def _per_tree_argmax(self, score: Tensor) -> Tensor:
        """Leaf with the largest ``score (B, L)`` in each tree: ``(B, T)``."""
        if self.num_trees == 1:
            return score.argmax(1, keepdim=True)
        masked = score[:, None, :].masked_fill(
            ~self.leaf_tree_onehot.t()[None], -math.inf)
        return masked.argmax(-1)

    def decide(self, out: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The three inference modes from :meth:`route`'s output.

        Args:
            out (dict): from :meth:`route`.

        Returns:
            dict[str, Tensor]: ``soft``, ``sample_max``, ``greedy``: class
            distributions ``(B, C)`` (averaged over trees);
            ``sample_max_leaf``, ``greedy_leaf``: ``(B, T)`` leaf indices;
            ``sample_max_depth``, ``greedy_depth``: ``(B,)`` path lengths
            (mean over trees).
        """
        dist = self.leaf_distributions()  # (L, C)
        soft = out['log_y'].exp().mean(1)
        sm_leaf = self._per_tree_argmax(out['log_pi'])
        go_right = torch.exp(-out['min_dist']) > 0.5
        reached = greedy_leaves(go_right, self.path_index)  # (B, L)
        gr_leaf = self._per_tree_argmax(reached.float())
        depth = self.leaf_depth.float()
        return dict(
            soft=soft,
            sample_max=dist[sm_leaf].mean(1),
            greedy=dist[gr_leaf].mean(1),
            sample_max_leaf=sm_leaf,
            greedy_leaf=gr_leaf,
            sample_max_depth=depth[sm_leaf].mean(1),
            greedy_depth=depth[gr_leaf].mean(1))

    def forward(self,
                feats: Sequence[Tensor],
                mode: Optional[str] = None) -> Tensor:
        """Log class probabilities of the ensemble.

        Args:
            feats (tuple[Tensor]): backbone outputs.
            mode (str, optional): inference mode (default:
                ``inference_mode``).

        Returns:
            Tensor: ``(B, C)`` ``log y`` (``softmax`` of it is ``y``).
        """
        mode = mode or self.inference_mode
        out = self.route(feats)
        if mode == 'soft':
            if self.num_trees == 1:
                return out['log_y'][:, 0]
            return torch.logsumexp(out['log_y'], 1) - math.log(
                self.num_trees)
        if mode not in _MODES:
            raise ValueError(f'unknown inference mode {mode!r}')
        prob = self.decide(out)[mode]
        return prob.clamp_min(torch.finfo(prob.dtype).tiny).log()

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    @staticmethod
    def _targets(data_samples: List[DataSample], num_classes: int,
                 device) -> Tuple[Tensor, Tensor]:
        """Hard labels ``(B,)`` (or soft scores ``(B, C)``) and a soft
        target matrix ``(B, C)``."""
        if 'gt_score' in data_samples[0]:
            score = torch.stack([s.gt_score for s in data_samples]).to(device)
            return score, score.float()
        label = torch.cat([s.gt_label for s in data_samples]).to(device)
        return label, F.one_hot(label, num_classes).float()

    def loss(self, feats: Sequence[Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """NLL of every tree (mean over trees); in derivative-free mode also
        prepares the leaf update of this batch.

        Args:
            feats (tuple[Tensor]): backbone outputs.
            data_samples (list[DataSample]): with ``gt_label`` (or
                ``gt_score``).

        Returns:
            dict[str, Tensor]: ``loss`` (and accuracies if ``cal_acc``).
        """
        out = self.route(feats)
        log_y = out['log_y']  # (B, T, C)
        B = log_y.shape[0]
        target, target_mat = self._targets(data_samples, self.num_classes,
                                           log_y.device)
        loss = sum(
            self.loss_module(log_y[:, t], target, avg_factor=B, **kwargs)
            for t in range(self.num_trees)) / self.num_trees
        losses = dict(loss=loss)
        if self.cal_acc:
            from mmpretrain.evaluation.metrics import Accuracy
            score = log_y.exp().mean(1)
            acc = Accuracy.calculate(score, target, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a
                 for k, a in zip(self.topk, acc)})
        if self.leaf_learning == 'derivative_free':
            if self._leaf_epoch_start is None:
                raise RuntimeError(
                    'ProtoTreeHead(leaf_learning="derivative_free") learns '
                    'its leaves with ProtoTreeLeafUpdateHook: add '
                    "dict(type='ProtoTreeLeafUpdateHook') to custom_hooks "
                    'in the config (or call head.begin_leaf_epoch(n) '
                    'yourself), or set leaf_learning="gradient".')
            update = self.leaf_update(out['log_pi'].detach(),
                                      log_y.detach(), target_mat)
            self._pending_leaf_update = update if \
                self._pending_leaf_update is None else \
                self._pending_leaf_update + update
        return losses

    @torch.no_grad()
    def leaf_update(self, log_pi: Tensor, log_y: Tensor,
                    target: Tensor) -> Tensor:
        """The derivative-free leaf update of one batch, all leaves at once.

        ``u[l, c] = sigma[l, c] * sum_x pi_l(x) * target[x, c] /
        y_tree(l)(x, c)``.

        Args:
            log_pi (Tensor): ``(B, L)`` log path probabilities.
            log_y (Tensor): ``(B, T, C)`` log outputs of the trees.
            target (Tensor): ``(B, C)`` one-hot (or soft) targets.

        Returns:
            Tensor: ``(L, C)``.
        """
        B, T, C = log_y.shape
        L = log_pi.shape[1]
        ratio = torch.where(target[:, None, :] > 0,
                            target[:, None, :] * torch.exp(-log_y),
                            torch.zeros_like(log_y))  # (B, T, C)
        acc = log_pi.exp().t() @ ratio.reshape(B, T * C)  # (L, T*C)
        if T > 1:
            acc = acc.view(L, T, C)[torch.arange(L, device=acc.device),
                                    self.leaf_tree]
        return self.leaf_distributions() * acc

    @torch.no_grad()
    def begin_leaf_epoch(self, num_batches: int) -> None:
        """Remember the leaves at the start of an epoch of ``num_batches``
        iterations (per rank) for the derivative-free update."""
        if num_batches < 1:
            raise ValueError(f'num_batches must be >= 1, got {num_batches}')
        self._leaf_epoch_start = self.leaf_params.detach().clone()
        self._leaf_num_batches = int(num_batches)
        self._pending_leaf_update = None

    @torch.no_grad()
    def apply_leaf_update(self) -> None:
        """Apply the pending derivative-free update (summed over ranks):
        ``params -= start / n_batches; relu; params += update``.

        Every rank must call it once per iteration (it all-reduces).
        """
        if self.leaf_learning != 'derivative_free':
            return
        if self._leaf_epoch_start is None:
            raise RuntimeError('call begin_leaf_epoch() first')
        update = self._pending_leaf_update
        if update is None:
            update = torch.zeros_like(self.leaf_params)
        update = update.to(self.leaf_params.dtype)
        from mmengine.dist import all_reduce
        all_reduce(update, op='sum')
        self.leaf_params.sub_(self._leaf_epoch_start /
                              self._leaf_num_batches)
        self.leaf_params.clamp_(min=0)
        self.leaf_params.add_(update)
        self._pending_leaf_update = None

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict(
        self,
        feats: Sequence[Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predictions in ``inference_mode`` plus all modes for metrics.

        Returns:
            list[DataSample]: ``pred_score (C,)`` (the mode's class
            distribution), ``pred_label``, ``tree_pred_labels (3,)``
            (soft, sample_max, greedy) and ``tree_path_lengths (2,)``
            (sample_max, greedy).
        """
        out = self.route(feats)
        dec = self.decide(out)
        scores = dec[self.inference_mode].detach()
        labels = scores.argmax(1, keepdim=True)
        all_labels = torch.stack([
            dec['soft'].argmax(1), dec['sample_max'].argmax(1),
            dec['greedy'].argmax(1)
        ], 1)
        lengths = torch.stack([dec['sample_max_depth'],
                               dec['greedy_depth']], 1)
        if data_samples is None:
            data_samples = [None] * scores.shape[0]
        results = []
        for i, ds in enumerate(data_samples):
            ds = DataSample() if ds is None else ds
            ds.set_pred_score(scores[i]).set_pred_label(labels[i])
            ds.set_field(all_labels[i], 'tree_pred_labels', field_type='data')
            ds.set_field(lengths[i], 'tree_path_lengths', field_type='data')
            results.append(ds)
        return results

    # ------------------------------------------------------------------
    # pruning and projection
    # ------------------------------------------------------------------
    @torch.no_grad()
    def prune(self, threshold: Optional[float] = None) -> Dict[str, int]:
        """Remove every maximal subtree whose leaves all have max class
        probability ``<= threshold``; its parent is replaced by the sibling.

        The prototype / leaf parameters shrink in place (same objects, new
        ``.data``). Prune after training: an optimiser's running state for
        them (e.g. Adam moments) no longer matches their shape.

        Args:
            threshold (float, optional): default ``prune_threshold``.

        Returns:
            dict[str, int]: node and leaf counts before / after.
        """
        thr = self.prune_threshold if threshold is None else threshold
        before = dict(nodes_before=self.num_prototypes,
                      leaves_before=self.num_leaves)
        leaf_ok = self.leaf_distributions().amax(1) > thr
        keep_node, keep_leaf = prune_masks(self.right_inc, self.left_inc,
                                           leaf_ok)
        right = self.right_inc[keep_leaf][:, keep_node]
        left = self.left_inc[keep_leaf][:, keep_node]
        self.tree_left, self.tree_right = children_from_incidence(right, left)
        self.leaf_tree = self.leaf_tree[keep_leaf]
        self.prototypes.data = self.prototypes.data[keep_node].clone()
        self.prototypes.grad = None
        self._set_leaf_params(self.leaf_params.data[keep_leaf].clone())
        if isinstance(self.leaf_params, nn.Parameter):
            self.leaf_params.grad = None
        self.proto_patches = self.proto_patches[keep_node].clone()
        self.proto_source = self.proto_source[keep_node].clone()
        self._leaf_epoch_start = None
        self._pending_leaf_update = None
        self._rebuild_topology()
        return dict(**before, nodes_after=self.num_prototypes,
                    leaves_after=self.num_leaves)

    @torch.no_grad()
    def projection_allowed(self) -> Tensor:
        """Classes allowed to supply each prototype's patch: the argmax
        classes of the leaves below its node.

        Returns:
            Tensor: ``(P, C)`` bool.
        """
        leaf_class = self.leaf_distributions().argmax(1)
        return subtree_classes(self.right_inc, self.left_inc, leaf_class,
                               self.num_classes)

    def tree_node_slice(self, t: int) -> slice:
        """Global node indices of tree ``t``."""
        return slice(self._node_ptr[t], self._node_ptr[t + 1])

    # ------------------------------------------------------------------
    # explanations
    # ------------------------------------------------------------------
    @torch.no_grad()
    def explain(self,
                feats: Sequence[Tensor],
                data_samples: Optional[List[DataSample]] = None,
                topk: int = 5,
                classes: Optional[Sequence[str]] = None,
                percentile: float = 95.) -> List[dict]:
        """Local explanations: the greedy decision path of every image.

        Args:
            feats (tuple[Tensor]): backbone outputs for ``B`` images.
            data_samples (list[DataSample], optional): their samples
                (``img_shape`` gives boxes in input pixels; ``gt_label``
                is reported when present).
            topk (int): classes listed for the reached leaf.
            classes (Sequence[str], optional): class names.
            percentile (float): high-activation percentile of the image
                patch boxes.

        Returns:
            list[dict]: one ``{'type': 'prototree', ...}`` per image, see
            :func:`mmfg.explain.prototree.tree_explanations`.
        """
        from mmfg.explain.prototree import tree_explanations
        return tree_explanations(
            self, feats, data_samples, topk=topk, classes=classes,
            percentile=percentile)

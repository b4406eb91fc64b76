"""Hooks that train, prune, project and render ProtoTree heads.

- :class:`ProtoTreeLeafUpdateHook`: the paper's derivative-free leaf update
  after every iteration (DDP: the update is summed over ranks, so all ranks
  hold the same leaves).
- :class:`ProtoTreePruneProjectHook`: after training, prune the tree, then
  project every prototype onto its nearest latent training patch of an
  allowed class (the argmax classes of the leaves below its node),
  evaluating after each step and saving the pruned + projected checkpoint.
- :class:`ProtoTreeRenderHook`: after training, render the global tree
  (SVG, HTML, Graphviz ``.dot`` and, when ``dot`` is installed, its PNG/SVG)
  into the work dir.

:class:`TreeProjection` is the projection itself, usable without a runner.
"""
import copy
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from mmfg.models.heads.prototree_head import ProtoTreeHead
from mmfg.models.utils.projection import PatchProjector
from mmfg.registry import HOOKS
from mmfg.utils.errors import ConfigError

__all__ = [
    'ProtoTreeLeafUpdateHook', 'ProtoTreePruneProjectHook',
    'ProtoTreeRenderHook', 'TreeProjection', 'tree_heads', 'images_as_seen'
]


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def tree_heads(model: nn.Module) -> List[ProtoTreeHead]:
    """Every :class:`ProtoTreeHead` inside ``model`` (wrappers unwrapped)."""
    return [
        m for m in _unwrap(model).modules() if isinstance(m, ProtoTreeHead)
    ]


def images_as_seen(data_preprocessor: nn.Module, inputs: Tensor) -> Tensor:
    """Undo the preprocessor's normalisation: ``(B, 3, H, W)`` model inputs
    to ``(B, H, W, 3)`` uint8 (RGB when the preprocessor converted BGR to
    RGB, as every mmfg config does)."""
    x = inputs.detach().float()
    mean = getattr(data_preprocessor, 'mean', None)
    std = getattr(data_preprocessor, 'std', None)
    if mean is not None and std is not None:
        x = x * std.view(1, -1, 1, 1).to(x) + mean.view(1, -1, 1, 1).to(x)
    return x.clamp(0, 255).round().byte().permute(0, 2, 3, 1).contiguous()


@HOOKS.register_module()
class ProtoTreeLeafUpdateHook(Hook):
    """Derivative-free leaf learning of ProtoTree (Nauta et al. 2021).

    At the start of every pass over the training data the leaves are
    remembered; after every iteration each head applies
    ``params -= params_start / n_batches; relu; params += update`` with the
    batch update summed over DDP ranks
    (:meth:`ProtoTreeHead.apply_leaf_update`). Heads with
    ``leaf_learning='gradient'`` are left alone. Works with epoch- and
    iteration-based loops (a "pass" is ``len(train_dataloader)``
    iterations).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self._count = 0
        self._n = 0

    def _heads(self, runner) -> List[ProtoTreeHead]:
        return [
            h for h in tree_heads(runner.model)
            if h.leaf_learning == 'derivative_free'
        ]

    def _begin(self, runner) -> None:
        self._n = len(runner.train_dataloader)
        self._count = 0
        for head in self._heads(runner):
            head.begin_leaf_epoch(self._n)

    def before_train(self, runner) -> None:
        if not tree_heads(runner.model):
            raise ConfigError(
                'ProtoTreeLeafUpdateHook is in custom_hooks but the model '
                'has no ProtoTreeHead; remove the hook from the config.')

    def before_train_epoch(self, runner) -> None:
        self._begin(runner)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        for head in self._heads(runner):
            head.apply_leaf_update()
        self._count += 1
        if self._count >= self._n:  # iteration-based loops: next pass
            self._begin(runner)


class TreeProjection:
    """Class-constrained projection of ProtoTree prototypes (batched, DDP).

    Each prototype may only move to a latent patch of an image whose class
    is the argmax class of some leaf below its node
    (:meth:`ProtoTreeHead.projection_allowed`); the nearest such patch over
    the whole dataset is found by :class:`PatchProjector` (one per tree,
    results merged across DDP ranks).

    Args:
        head (ProtoTreeHead): the head to project (prune it first).
    """

    def __init__(self, head: ProtoTreeHead) -> None:
        self.head = head
        allowed = head.projection_allowed()
        self.projectors = []
        for t in range(head.num_trees):  # a handful of trees
            sl = head.tree_node_slice(t)
            self.projectors.append(
                PatchProjector(head.prototypes[sl].detach().float(),
                               allowed[sl]))

    @torch.no_grad()
    def update(self, feats: Sequence[Tensor], labels: Tensor,
               img_idx: Tensor) -> None:
        """Consider one batch.

        Args:
            feats (tuple[Tensor]): backbone outputs ``(B, C_in, H, W)``.
            labels (Tensor): ``(B,)`` classes.
            img_idx (Tensor): ``(B,)`` dataset indices.
        """
        z = self.head.latent(feats).float()  # (B, T, D, H, W)
        for t, proj in enumerate(self.projectors):
            proj.update(z[:, t], labels, img_idx)

    @torch.no_grad()
    def finish(self) -> Dict[str, Tensor]:
        """Merge over ranks and write the prototypes into the head.

        Prototypes that saw no allowed image keep their value (and
        ``proto_source`` stays -1).

        Returns:
            dict[str, Tensor]: ``img_idx (P,)``, ``h (P,)``, ``w (P,)``,
            ``dist (P,)`` squared distance before projection, ``moved (P,)``
            bool.
        """
        head = self.head
        parts = []
        for proj in self.projectors:
            proj.merge_distributed()
            parts.append(proj.result())
        res = {k: torch.cat([p[k] for p in parts]) for k in
               ('img_idx', 'h', 'w', 'dist')}
        vec = torch.cat([p['vec'] for p in parts])
        moved = res['img_idx'] >= 0
        protos = head.prototypes.data
        protos.copy_(torch.where(moved[:, None], vec.to(protos), protos))
        src = torch.stack([res['img_idx'], res['h'], res['w']], 1)
        head.proto_source.copy_(
            torch.where(moved[:, None], src.to(head.proto_source),
                        head.proto_source))
        res['moved'] = moved
        return res

    @torch.no_grad()
    def set_patches(self, nodes: Tensor, latent: Tensor, images: Tensor,
                    percentile: float = 95.) -> None:
        """Store the RGB thumbnail of each node's source patch.

        The patch is the high-activation box (``percentile``) of the
        upsampled similarity map ``exp(-d)`` of the (projected) prototype
        on its source image (:mod:`mmfg.explain.prototypes`).

        Args:
            nodes (Tensor): ``(N,)`` node indices.
            latent (Tensor): ``(N, D, h, w)`` latent map of each node's tree
                on its source image.
            images (Tensor): ``(N, H, W, 3)`` uint8 source images as seen.
            percentile (float): high-activation percentile.
        """
        from mmfg.explain.prototypes import (high_activation_box,
                                             upsample_activation)
        head = self.head
        s = head.proto_patches.shape[1]
        if s == 0 or nodes.numel() == 0:
            return
        p = head.prototypes.data[nodes].float()  # (N, D)
        z = latent.float()
        d2 = (z.pow(2).sum(1) - 2 * torch.einsum('ndhw,nd->nhw', z, p) +
              p.pow(2).sum(1)[:, None, None]).clamp_min(0)
        sim = torch.exp(-(d2 + 1e-14).sqrt())  # (N, h, w)
        H, W = images.shape[1:3]
        up = upsample_activation(sim.cpu(), (H, W))
        boxes = high_activation_box(up, percentile)  # (N, 4)
        crops = []
        imgs = images.permute(0, 3, 1, 2).float().cpu()  # (N, 3, H, W)
        for i in range(nodes.numel()):  # one crop per node, once
            x1, y1, x2, y2 = boxes[i].tolist()
            x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
            crop = imgs[i:i + 1, :, y1:y2, x1:x2]
            crops.append(F.interpolate(crop, size=(s, s), mode='bilinear',
                                       align_corners=False))
        thumbs = torch.cat(crops).round().clamp(0, 255).byte()
        head.proto_patches[nodes] = thumbs.permute(0, 2, 3, 1).to(
            head.proto_patches.device)


def _sample_indices(data_samples) -> Tensor:
    idx = []
    for ds in data_samples:
        if 'sample_idx' not in ds.metainfo:
            raise ConfigError(
                'ProtoTree projection needs the dataset index of every '
                "image: the packer must keep 'sample_idx' in its meta_keys "
                '(MMPretrain PackInputs and mmfg PackFGInputs do by '
                'default).')
        idx.append(int(ds.metainfo['sample_idx']))
    return torch.tensor(idx, dtype=torch.long)


@HOOKS.register_module()
class ProtoTreePruneProjectHook(Hook):
    """Prune and project ProtoTree heads after training (as in the paper).

    After the last epoch: evaluate (``trained``), prune subtrees whose
    leaves all have max class probability ``<= threshold`` and evaluate
    (``pruned``), project the prototypes onto their nearest allowed training
    patches, store their thumbnails and evaluate (``projected``). The
    metrics go to the log and to ``<work_dir>/prototree_summary.json``; the
    pruned and projected model is saved as
    ``<work_dir>/<filename>`` (a plain model checkpoint; ``tools/test.py``
    loads it into the full-size config, the head adapts its size).

    Args:
        prune (bool): prune. Defaults to True.
        threshold (float, optional): pruning threshold (default: the
            head's ``prune_threshold``, 0.01).
        project (bool): project. Defaults to True.
        dataloader (dict, optional): dataloader of the projection images.
            Default: the training set with the validation pipeline
            (no augmentation), not shuffled.
        evaluate (bool): evaluate with the validation loop's dataloader and
            evaluator after each step. Defaults to True.
        percentile (float): high-activation percentile of the stored
            prototype patches.
        filename (str): checkpoint name in the work dir (None: don't save).
    """

    priority = 'NORMAL'

    def __init__(self,
                 prune: bool = True,
                 threshold: Optional[float] = None,
                 project: bool = True,
                 dataloader: Optional[dict] = None,
                 evaluate: bool = True,
                 percentile: float = 95.,
                 filename: Optional[str] = 'prototree_pruned_projected.pth'
                 ) -> None:
        self.prune = prune
        self.threshold = threshold
        self.project = project
        self.dataloader_cfg = dataloader
        self.evaluate = evaluate
        self.percentile = percentile
        self.filename = filename
        self.summary: Dict[str, dict] = {}

    # -- helpers ---------------------------------------------------------
    def _projection_loader(self, runner):
        from mmengine.runner import Runner
        if self.dataloader_cfg is not None:
            cfg = copy.deepcopy(self.dataloader_cfg)
        else:
            cfg = copy.deepcopy(runner.cfg.get('train_dataloader'))
            val = runner.cfg.get('val_dataloader') or runner.cfg.get(
                'test_dataloader')
            if cfg is None or val is None or 'pipeline' not in cfg.get(
                    'dataset', {}) or 'pipeline' not in val.get(
                        'dataset', {}):
                raise ConfigError(
                    'ProtoTreePruneProjectHook: cannot derive the projection '
                    'dataloader (training set + validation pipeline) from '
                    'this config; give `dataloader=dict(...)` in the hook '
                    'config.')
            cfg['dataset']['pipeline'] = val['dataset']['pipeline']
            cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
            cfg['persistent_workers'] = False
            cfg.pop('batch_sampler', None)
        seed = runner.seed if hasattr(runner, 'seed') else None
        return Runner.build_dataloader(cfg, seed=seed)

    @torch.no_grad()
    def _evaluate(self, runner) -> Optional[dict]:
        loop = runner.val_loop
        if loop is None:
            return None
        model = runner.model
        model.eval()
        for data in loop.dataloader:
            outputs = model.val_step(data)
            loop.evaluator.process(data_samples=outputs, data_batch=data)
        metrics = loop.evaluator.evaluate(len(loop.dataloader.dataset))
        return {k: float(v) for k, v in metrics.items()
                if np.isscalar(v) or (isinstance(v, Tensor)
                                      and v.numel() == 1)}

    @torch.no_grad()
    def _project(self, runner, heads: List[ProtoTreeHead]) -> dict:
        model = _unwrap(runner.model)
        model.eval()
        loader = self._projection_loader(runner)
        projs = [TreeProjection(h) for h in heads]
        for data in loader:
            data = model.data_preprocessor(data, False)
            feats = model.extract_feat(data['inputs'])
            labels = torch.cat([ds.gt_label for ds in data['data_samples']
                                ]).to(data['inputs'].device)
            idx = _sample_indices(data['data_samples']).to(labels.device)
            for proj in projs:
                proj.update(feats, labels, idx)
        stats = {}
        for k, proj in enumerate(projs):
            res = proj.finish()
            self._patches(model, loader, proj, res)
            stats[f'head{k}'] = dict(
                projected=int(res['moved'].sum()),
                not_projected=int((~res['moved']).sum()),
                mean_sq_dist=float(res['dist'][res['moved']].mean())
                if bool(res['moved'].any()) else float('nan'))
        return stats

    @torch.no_grad()
    def _patches(self, model, loader, proj: TreeProjection,
                 res: Dict[str, Tensor]) -> None:
        head = proj.head
        if head.proto_patches.shape[1] == 0:
            return
        moved = res['moved'].nonzero().flatten()
        if moved.numel() == 0:
            return
        imgs = res['img_idx'][moved]
        uniq = torch.unique(imgs).tolist()
        bs = max(getattr(loader, 'batch_size', None) or 16, 1)
        dataset = loader.dataset
        for start in range(0, len(uniq), bs):  # batches of source images
            chunk = uniq[start:start + bs]
            batch = loader.collate_fn([dataset[i] for i in chunk])
            data = model.data_preprocessor(batch, False)
            feats = model.extract_feat(data['inputs'])
            z = head.latent(feats)  # (b, T, D, h, w)
            seen = images_as_seen(model.data_preprocessor, data['inputs'])
            pos = {v: i for i, v in enumerate(chunk)}
            sel = torch.tensor(
                [k for k, v in enumerate(imgs.tolist()) if v in pos],
                dtype=torch.long)
            if sel.numel() == 0:
                continue
            nodes = moved[sel.to(moved.device)]
            b = torch.tensor([pos[v] for v in imgs[sel].tolist()],
                             dtype=torch.long, device=z.device)
            t = head.node_tree[nodes].to(z.device)
            proj.set_patches(nodes, z[b, t], seen[b.to(seen.device)],
                             self.percentile)

    # -- hook ----------------------------------------------------------------
    def after_train(self, runner) -> None:
        heads = tree_heads(runner.model)
        if not heads:
            return
        summary: Dict[str, dict] = {}

        def record(stage: str, extra: Optional[dict] = None) -> None:
            entry = dict(extra or {})
            entry['nodes'] = [h.num_prototypes for h in heads]
            entry['leaves'] = [h.num_leaves for h in heads]
            if self.evaluate:
                metrics = self._evaluate(runner)
                if metrics is not None:
                    entry['metrics'] = metrics
            summary[stage] = entry
            print_log(f'ProtoTree [{stage}]: {entry}', logger='current')

        record('trained')
        if self.prune:
            stats = [h.prune(self.threshold) for h in heads]
            record('pruned', dict(prune_stats=stats))
        if self.project:
            stats = self._project(runner, heads)
            record('projected', dict(projection=stats))
        self.summary = summary
        if is_main_process():
            with open(osp.join(runner.work_dir, 'prototree_summary.json'),
                      'w') as f:
                json.dump(summary, f, indent=2)
        if self.filename:
            runner.save_checkpoint(
                runner.work_dir,
                self.filename,
                save_optimizer=False,
                save_param_scheduler=False)
            print_log(
                'ProtoTree: pruned/projected model saved to '
                f'{osp.join(runner.work_dir, self.filename)}',
                logger='current')


@HOOKS.register_module()
class ProtoTreeRenderHook(Hook):
    """Render the global tree into the work dir after training.

    Writes ``<work_dir>/<out_dir>/prototree.{svg,html,dot,json}`` and the
    node patch PNGs; ``prototree_dot.{svg,png}`` too when Graphviz ``dot``
    is on PATH. Runs after :class:`ProtoTreePruneProjectHook` (lower
    priority), so it shows the pruned, projected tree.

    Args:
        out_dir (str): folder inside the work dir.
        topk (int): classes shown per leaf.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str = 'prototree', topk: int = 3) -> None:
        self.out_dir = out_dir
        self.topk = topk

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        from mmfg.visualization.tree import render_tree
        heads = tree_heads(runner.model)
        classes = None
        try:
            classes = runner.train_dataloader.dataset.metainfo.get('classes')
        except Exception:  # noqa: BLE001 - names are optional
            classes = None
        for k, head in enumerate(heads):
            out = osp.join(runner.work_dir,
                           self.out_dir if len(heads) == 1 else
                           f'{self.out_dir}_{k}')
            files = render_tree(head, out, classes=classes, topk=self.topk)
            print_log(f'ProtoTree rendered: {files}', logger='current')

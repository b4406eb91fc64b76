"""Diversified mutual metric learning (DMML, Park et al., 2020).

A cohort of ``K`` embedding models trained together. Each member learns by
a triplet loss on its own embeddings and by relational knowledge transfer
(RKD distance + angle, :class:`~mmfg.models.losses.RKDLoss`) from every
other member. The cohort is kept diverse in three ways:

* **model diversity**: member ``k`` is initialised with its own seed
  (``seeds``), and members may differ in architecture (``members`` as a
  list of configs);
* **temporal diversity**: member ``k`` is updated every
  ``update_intervals[k]`` iterations (in the other iterations it only
  teaches), and/or teaches through an exponential moving average of its
  weights (``ema_momentum[k]``, a temporal ensemble of itself);
* **view diversity**: each sample carries ``V`` augmented views (MMPretrain's
  ``MultiView`` transform, packed by
  :class:`~mmfg.models.utils.MultiViewClsDataPreprocessor` as
  ``(B, V, C, H, W)``); member ``k`` sees view ``k mod V``.

Prediction sets ``embedding_k`` (member ``k``, ``(D_k,)``) and
``embedding``, the ensemble: the members' embeddings, each L2-normalised
(``ensemble_normalize``), concatenated. Several
:class:`~mmfg.evaluation.metrics.RetrievalMetric` instances (``embedding_key``
and ``prefix``) then evaluate every member and the ensemble in one test run.

Distributed training: the triplet and relational losses are per-rank batch
losses (each rank mines triplets and relations within its own batch; DDP
averages the gradients). EMA copies are updated from the synchronised
weights at the start of each training forward, so every rank holds the same
copies. With ``update_intervals`` other than 1, a member's parameters get
no gradient in some iterations: wrap the model with
``model_wrapper_cfg=dict(type='MMDistributedDataParallel',
find_unused_parameters=True)``.
"""
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = ['EmbeddingMember', 'MutualMetricLearner']


def _build(cfg: Union[dict, nn.Module]) -> nn.Module:
    if isinstance(cfg, nn.Module):
        return cfg
    from mmfg.models.heads.prototype_layer import build_mmfg_module
    return build_mmfg_module(cfg)


class EmbeddingMember(nn.Module):
    """One cohort member: ``backbone -> neck -> head`` (an embedding head
    such as :class:`~mmfg.models.heads.EmbeddingHead`, whose ``forward``
    gives ``(N, D)`` and whose ``loss_module`` is a metric loss).

    Args:
        backbone (dict): backbone config.
        head (dict): embedding head config.
        neck (dict, optional): neck config (e.g. global average pooling).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = None):
        super().__init__()
        self.backbone = _build(backbone)
        self.neck = _build(neck) if neck is not None else None
        self.head = _build(head)
        if not hasattr(self.head, 'loss_module'):
            raise ConfigError(
                f'MutualMetricLearner: the member head '
                f'{type(self.head).__name__} has no loss_module; use an '
                "embedding head such as dict(type='EmbeddingHead', ...).")

    def init_weights(self) -> None:
        for m in (self.backbone, self.neck, self.head):
            if m is not None and hasattr(m, 'init_weights'):
                m.init_weights()

    def forward(self, x: Tensor) -> Tensor:
        """Embeddings ``(N, D)`` of images ``(N, C, H, W)``."""
        feats = self.backbone(x)
        if self.neck is not None:
            feats = self.neck(feats)
        return self.head(feats)


def _per_member(value, k: int, name: str, default):
    """Broadcast a scalar option or check a per-member sequence."""
    if value is None:
        return [default] * k
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ConfigError(
                f'MutualMetricLearner: {name} has {len(value)} entries but '
                f'the cohort has {k} members.')
        return list(value)
    return [value] * k


@MODELS.register_module()
class MutualMetricLearner(BaseModel):
    """DMML cohort of embedding models (see the module docstring).

    Per member ``k`` (``e_k``: its embeddings of its view of the batch):
    ``loss_metric_k = triplet_k(e_k, labels)`` and
    ``loss_rkd_k = transfer_weight * mean_{j != k} RKD(e_k, t_j)``, with
    ``t_j`` the (detached) embeddings of member ``j``, or of its EMA copy
    when ``ema_momentum[j]`` is set, on view ``j``.

    Args:
        members (dict | list[dict]): member configs, each
            ``dict(backbone=..., neck=..., head=...)``; one dict is repeated
            ``num_members`` times.
        num_members (int, optional): cohort size when ``members`` is one
            dict. Defaults to 3.
        seeds (Sequence[int], optional): initialisation seed per member
            (model diversity). Defaults to ``0..K-1``.
        transfer_loss (dict, optional): relational transfer loss, called as
            ``loss(student (N, D_s), teacher (N, D_t))``. Defaults to
            ``dict(type='RKDLoss')``; None switches transfer off.
        transfer_weight (float): weight of the mean transfer loss.
        update_intervals (int | Sequence[int]): member ``k`` gets gradients
            every ``update_intervals[k]`` training forwards (iterations;
            with gradient accumulation, forwards). Defaults to 1.
        ema_momentum (float | Sequence[float | None], optional): per member,
            the EMA momentum ``m`` of its teacher copy
            (``ema = m * ema + (1 - m) * w`` per iteration); None: the
            member teaches with its live weights.
        test_with_ema (bool): predict with the EMA copies where they exist.
        ensemble_normalize (bool): L2-normalise each member's embedding
            before concatenating them into ``embedding``.
        data_preprocessor (dict, optional): defaults to
            ``dict(type='MultiViewClsDataPreprocessor')``.
        init_cfg (dict, optional): unused (members initialise themselves).
    """

    def __init__(self,
                 members: Union[dict, List[dict]],
                 num_members: Optional[int] = None,
                 seeds: Optional[Sequence[int]] = None,
                 transfer_loss: Optional[dict] = dict(type='RKDLoss'),
                 transfer_weight: float = 1.0,
                 update_intervals: Union[int, Sequence[int]] = 1,
                 ema_momentum: Union[float, Sequence[Optional[float]],
                                     None] = None,
                 test_with_ema: bool = False,
                 ensemble_normalize: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='MultiViewClsDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = _build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if isinstance(members, dict):
            member_cfgs = [copy.deepcopy(members)
                           for _ in range(num_members or 3)]
        else:
            member_cfgs = list(members)
            if num_members is not None and num_members != len(member_cfgs):
                raise ConfigError(
                    f'MutualMetricLearner: num_members={num_members} but '
                    f'{len(member_cfgs)} member configs are given.')
        K = len(member_cfgs)
        if K < 1:
            raise ConfigError('MutualMetricLearner: the cohort is empty.')
        self.num_members = K
        self.seeds = [int(s) for s in _per_member(
            list(seeds) if seeds is not None else list(range(K)), K, 'seeds',
            0)]
        self.update_intervals = [
            int(n) for n in _per_member(update_intervals, K,
                                        'update_intervals', 1)
        ]
        if any(n < 1 for n in self.update_intervals):
            raise ConfigError('MutualMetricLearner: update_intervals must be '
                              f'>= 1, got {self.update_intervals}.')
        self.ema_momentum = _per_member(ema_momentum, K, 'ema_momentum', None)
        for m in self.ema_momentum:
            if m is not None and not 0 <= m < 1:
                raise ConfigError('MutualMetricLearner: ema_momentum must be '
                                  f'in [0, 1), got {m}.')
        self.transfer_weight = float(transfer_weight)
        self.test_with_ema = bool(test_with_ema)
        self.ensemble_normalize = bool(ensemble_normalize)

        built = []
        for cfg, seed in zip(member_cfgs, self.seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                built.append(
                    cfg if isinstance(cfg, nn.Module) else EmbeddingMember(
                        **cfg))
        self.members = nn.ModuleList(built)
        self.ema_members = nn.ModuleDict()
        for k, m in enumerate(self.ema_momentum):
            if m is not None:
                self.ema_members[str(k)] = self._frozen_copy(self.members[k])
        self.transfer = (
            _build(transfer_loss)
            if transfer_loss is not None and K > 1 else None)
        # training iterations seen: drives the update intervals, kept in
        # the checkpoint (extra state) so that a resumed run continues
        self.iteration = 0

    # ------------------------------------------------------------ weights
    def get_extra_state(self) -> Tensor:
        # a tensor: the runner broadcasts the state dict under DDP
        return torch.tensor(self.iteration, dtype=torch.long)

    def set_extra_state(self, state) -> None:
        if isinstance(state, Tensor):
            self.iteration = int(state)

    @staticmethod
    def _frozen_copy(member: nn.Module) -> nn.Module:
        ema = copy.deepcopy(member)
        for p in ema.parameters():
            p.requires_grad_(False)
        return ema

    def init_weights(self) -> None:
        """Initialise member ``k`` under ``seeds[k]`` (model diversity),
        then copy members into their EMA teachers."""
        for member, seed in zip(self.members, self.seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                if hasattr(member, 'init_weights'):
                    member.init_weights()
        for k, ema in self.ema_members.items():
            ema.load_state_dict(self.members[int(k)].state_dict())

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema = m * ema + (1 - m) * live`` for parameters; buffers (BN
        statistics) are copied."""
        for k, ema in self.ema_members.items():
            m = float(self.ema_momentum[int(k)])
            live = self.members[int(k)]
            e_params = list(ema.parameters())
            l_params = [p.detach() for p in live.parameters()]
            if e_params:
                torch._foreach_mul_(e_params, m)
                torch._foreach_add_(e_params, l_params, alpha=1 - m)
            for eb, lb in zip(ema.buffers(), live.buffers()):
                eb.copy_(lb)

    # -------------------------------------------------------------- utils
    def _view(self, inputs: Tensor, k: int) -> Tensor:
        """Member ``k``'s view: ``inputs[:, k % V]`` of a ``(B, V, C, H,
        W)`` batch, or the batch itself."""
        if inputs.ndim == 5:
            return inputs[:, k % inputs.shape[1]]
        return inputs

    def _active(self, k: int, it: int) -> bool:
        return it % self.update_intervals[k] == 0

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'loss'``, ``'predict'`` or ``'tensor'`` (the list of member
        embeddings ``(B, D_k)``)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return [m(self._view(inputs, k))
                    for k, m in enumerate(self.members)]
        raise RuntimeError(f'Invalid mode "{mode}".')

    # --------------------------------------------------------------- loss
    def loss(self, inputs: Tensor,
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """Cohort losses of a batch.

        Args:
            inputs (Tensor): ``(B, C, H, W)`` or ``(B, V, C, H, W)``.
            data_samples (list[DataSample]): with ``gt_label``.

        Returns:
            dict[str, Tensor]: ``loss_metric_k`` (plus ``loss_reg_k`` when
            the head has a regulariser) and ``loss_rkd_k`` for every
            member ``k`` that is updated this iteration.
        """
        if self.ema_members:
            self.update_ema()  # from the weights after the last step
        it = self.iteration
        self.iteration += 1
        labels = torch.cat([ds.gt_label for ds in data_samples]).to(
            inputs.device)
        embs, teachers = [], []
        for k, member in enumerate(self.members):
            x = self._view(inputs, k)
            if self._active(k, it):
                e = member(x)
            else:
                with torch.no_grad():
                    e = member(x)
            embs.append(e)
            if str(k) in self.ema_members:
                with torch.no_grad():
                    teachers.append(self.ema_members[str(k)](x))
            else:
                teachers.append(e.detach())
        losses = {}
        for k, member in enumerate(self.members):
            if not self._active(k, it):
                continue
            head = member.head
            losses[f'loss_metric_{k}'] = head.loss_module(embs[k], labels)
            reg = getattr(head, 'regularizer', None)
            if reg is not None:
                losses[f'loss_reg_{k}'] = reg(embs[k])
            if self.transfer is not None:
                rkd = sum(
                    self.transfer(embs[k], teachers[j])
                    for j in range(self.num_members) if j != k)
                losses[f'loss_rkd_{k}'] = (
                    self.transfer_weight * rkd / (self.num_members - 1))
        return losses

    # ------------------------------------------------------------ predict
    @torch.no_grad()
    def embed(self, inputs: Tensor) -> List[Tensor]:
        """Member embeddings ``[(B, D_k)]`` used for prediction (EMA copies
        with ``test_with_ema``)."""
        out = []
        for k, member in enumerate(self.members):
            if self.test_with_ema and str(k) in self.ema_members:
                member = self.ema_members[str(k)]
            out.append(member(self._view(inputs, k)).float())
        return out

    def ensemble(self, embs: Sequence[Tensor]) -> Tensor:
        """Concatenated ensemble embedding ``(B, sum_k D_k)``."""
        if self.ensemble_normalize:
            embs = [F.normalize(e, dim=-1) for e in embs]
        return torch.cat(list(embs), dim=-1)

    @torch.no_grad()
    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Set ``embedding_k`` per member and the ensemble ``embedding``.

        Args:
            inputs (Tensor): ``(B, C, H, W)`` (or multi-view; member ``k``
                then embeds view ``k mod V``).
            data_samples (list[DataSample], optional): created when None.

        Returns:
            list[DataSample]
        """
        embs = self.embed(inputs)
        ens = self.ensemble(embs)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(ens.shape[0])]
        for i, ds in enumerate(data_samples):
            for k, e in enumerate(embs):
                ds.set_field(e[i], f'embedding_{k}', field_type='data')
            ds.set_field(ens[i], 'embedding', field_type='data')
        return data_samples

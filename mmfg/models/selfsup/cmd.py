"""CMD: Cross-level Multi-instance Distillation (Bi et al., TIP 2025).

Self-distillation between a student and its EMA teacher (DINO / EsViT) on
multi-crop views, at two levels and across them:

- intra-level: image-level cross-entropy ``H(P_t(cls), P_s(cls))`` and
  region-level cross-entropy where each student region is distilled from
  its most similar teacher region (region matching);
- inter-level (multiple-instance): inside the teacher and inside the
  student, the image-level distribution supervises the attention-MIL pooled
  region distributions, ``KL(P_img || sum_n a_n P_n)``.

Teacher outputs are centred (EMA of the batch mean of its logits) and
sharpened (temperature ``teacher_temp``, warmed up by
:class:`~mmfg.engine.hooks.TeacherTempWarmupHook`); the teacher is MMPretrain's
:class:`~mmpretrain.models.utils.CosineEMA` of the student backbone and both
heads (momentum ``1 - base_momentum`` rising to 1 on a cosine, as BYOL /
MoCo v3 in MMPretrain). One attention-MIL module scores the regions of both
networks: the teacher's regions are detached, so the teacher-side
inter-level term trains only the attention, which learns which regions
explain the image distribution.
"""
import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from torch import Tensor, nn

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = ['CMD', 'split_tokens', 'POOL_MODES']

POOL_MODES = ('cls', 'mean', 'cls+mean')


def split_tokens(out: Union[Tensor, Sequence[Tensor]],
                 num_extra_tokens: int = 0) -> Tuple[Tensor, Tensor]:
    """Image-level feature and region tokens of a backbone output.

    Args:
        out (Tensor | Sequence[Tensor]): the backbone output (its last
            element when a sequence): ``(B, L, D)`` tokens of a ViT with
            ``out_type='raw'`` (class token first when
            ``num_extra_tokens > 0``), or a ``(B, D, H, W)`` map (Swin,
            CNN).
        num_extra_tokens (int): leading non-patch tokens of ``(B, L, D)``.

    Returns:
        tuple[Tensor, Tensor]: image feature ``(B, D)`` (the class token, or
        the mean of the region tokens when there is none, as EsViT's Swin)
        and region tokens ``(B, N, D)``.
    """
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if out.dim() == 4:
        regions = out.flatten(2).transpose(1, 2)
        return regions.mean(1), regions
    if out.dim() != 3:
        raise ValueError(
            'CMD needs region tokens: a (B, L, D) token sequence (ViT with '
            "out_type='raw') or a (B, D, H, W) map, got "
            f'{tuple(out.shape)}.')
    regions = out[:, num_extra_tokens:]
    image = out[:, 0] if num_extra_tokens > 0 else regions.mean(1)
    return image, regions


@MODELS.register_module()
class CMD(BaseSelfSupervisor):
    """Cross-level multi-instance self-distillation.

    Inputs are the ``V`` views of MMPretrain's ``MultiView`` transform
    (``num_views=[num_global_views, num_local]``), collated per view by
    ``SelfSupDataPreprocessor``: a list of ``V`` tensors ``(B, 3, H_v,
    W_v)``, the global views first.

    Args:
        backbone (dict): MMPretrain ViT (``out_type='raw'``) or Swin, or
            any backbone giving tokens or a map.
        head (dict): image-level projection head (e.g.
            ``DINOProjectionHead``).
        region_head (dict): region-level projection head, same ``K``.
        mil_pooling (dict): attention-MIL pooling over region tokens
            (``AttentionMILPooling``).
        loss_image (dict): ``MultiCropDistillLoss`` (``region=False``).
        loss_region (dict): ``MultiCropDistillLoss`` (``region=True``).
        loss_inter (dict): ``MILDistillLoss``.
        inter_teacher (bool): add the teacher-side inter-level term.
            Defaults to True.
        inter_student (bool): add the student-side inter-level term.
            Defaults to True.
        num_global_views (int): the views the teacher sees. Defaults to 2.
        base_momentum (float): ``1 - m`` of the teacher EMA at the start
            (cosine to 0). Defaults to 0.004 (m = 0.996).
        teacher_temp (float): teacher sharpening temperature (set each
            epoch by ``TeacherTempWarmupHook``). Defaults to 0.07.
        eval_teacher (bool): :meth:`extract_feat` uses the teacher (as DINO
            / CMD evaluate). Defaults to True.
        data_preprocessor (dict, optional): defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 region_head: dict,
                 mil_pooling: dict,
                 loss_image: dict,
                 loss_region: dict,
                 loss_inter: dict = dict(type='MILDistillLoss'),
                 inter_teacher: bool = True,
                 inter_student: bool = True,
                 num_global_views: int = 2,
                 base_momentum: float = 0.004,
                 teacher_temp: float = 0.07,
                 eval_teacher: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.region_head = MODELS.build(region_head)
        self.mil_pooling = MODELS.build(mil_pooling)
        self.loss_image = MODELS.build(loss_image)
        self.loss_region = MODELS.build(loss_region)
        self.loss_inter = MODELS.build(loss_inter)
        if not getattr(self.loss_region, 'region', False):
            raise ConfigError('CMD: loss_region must be a '
                              'MultiCropDistillLoss with region=True.')
        self.inter_teacher = inter_teacher
        self.inter_student = inter_student
        self.num_global_views = int(num_global_views)
        self.base_momentum = base_momentum
        self.teacher_temp = float(teacher_temp)
        self.eval_teacher = eval_teacher
        self.num_extra_tokens = int(
            getattr(self.backbone, 'num_extra_tokens', 0)
            if getattr(self.backbone, 'out_type', 'raw') == 'raw' else 0)
        self.teacher = CosineEMA(self._student(), momentum=base_momentum)
        self.teacher.requires_grad_(False)

    def _student(self) -> nn.ModuleDict:
        """The EMA'd student modules (shared, not copied)."""
        return nn.ModuleDict(
            dict(
                backbone=self.backbone,
                head=self.head,
                region_head=self.region_head))

    def init_weights(self) -> None:
        """Initialise the student, then copy it into the teacher."""
        super().init_weights()
        self.teacher.module.load_state_dict(self._student().state_dict())

    # ------------------------------------------------------------ features
    def _forward_net(self, nets, x: Tensor) -> Tuple[Tensor, ...]:
        """Image logits ``(B, K)``, region logits ``(B, N, K)`` and region
        tokens ``(B, N, D)`` of one network on a batch of views."""
        image, regions = split_tokens(nets['backbone'](x),
                                      self.num_extra_tokens)
        return nets['head'](image), nets['region_head'](regions), regions

    @staticmethod
    def _group_views(inputs: List[Tensor]) -> List[List[int]]:
        """Consecutive views of equal size (one backbone pass each)."""
        groups: List[List[int]] = []
        for i, x in enumerate(inputs):
            if groups and inputs[groups[-1][0]].shape == x.shape:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    def extract_feat(self,
                     inputs: Tensor,
                     n_last_blocks: int = 1,
                     use_teacher: Optional[bool] = None,
                     pool: str = 'cls') -> Tensor:
        """Frozen image features for evaluation.

        Args:
            inputs (Tensor): ``(B, 3, H, W)``.
            n_last_blocks (int): concatenate the image features of the last
                ``n`` backbone outputs (``out_indices``; e.g. 4 for CMD's
                linear probe on ViT). Defaults to 1.
            use_teacher (bool, optional): defaults to ``eval_teacher``.
            pool (str): image feature of one output: ``'cls'`` (the class
                token, or the mean region token without one), ``'mean'``
                (mean of the region tokens) or ``'cls+mean'`` (both,
                concatenated: ``2 D`` per block). Defaults to ``'cls'``.

        Returns:
            Tensor: ``(B, n * D)`` (``(B, 2 n D)`` for ``'cls+mean'``).
        """
        if pool not in POOL_MODES:
            raise ConfigError(f'CMD.extract_feat: pool must be one of '
                              f'{POOL_MODES}, got {pool!r}.')
        use_teacher = self.eval_teacher if use_teacher is None \
            else use_teacher
        backbone = self.teacher.module['backbone'] if use_teacher \
            else self.backbone
        outs = backbone(inputs)
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        if n_last_blocks > len(outs):
            raise ConfigError(
                f'CMD.extract_feat: n_last_blocks={n_last_blocks} but the '
                f'backbone gives {len(outs)} outputs; add out_indices to the '
                'backbone config.')
        feats = []
        for o in outs[-n_last_blocks:]:
            image, regions = split_tokens(o, self.num_extra_tokens)
            if pool != 'mean':
                feats.append(image)
            if pool != 'cls':
                feats.append(regions.mean(1))
        return torch.cat(feats, dim=1)

    # ---------------------------------------------------------------- loss
    def loss(self, inputs: List[Tensor], data_samples: list,
             **kwargs) -> Dict[str, Tensor]:
        """CMD losses of a batch of multi-crop views.

        Args:
            inputs (list[Tensor]): ``V`` views ``(B, 3, H_v, W_v)``, the
                ``num_global_views`` global views first.
            data_samples (list): unused.

        Returns:
            dict[str, Tensor]: ``loss_image``, ``loss_region``,
            ``loss_inter_teacher``, ``loss_inter_student``.
        """
        if not isinstance(inputs, (list, tuple)) or \
                len(inputs) <= self.num_global_views:
            raise ConfigError(
                'CMD needs more than num_global_views views per image: use '
                "MMPretrain's MultiView transform (num_views=[2, N]) in the "
                'train pipeline and SelfSupDataPreprocessor.')
        T = self.num_global_views
        groups = self._group_views(list(inputs))
        if groups[0][:T] != list(range(T)):
            raise ConfigError('CMD: the global views must come first and '
                              'share one size.')
        B = inputs[0].shape[0]
        student = self._student()
        s_img, s_reg, s_feat = [], [], []
        for g in groups:
            x = torch.cat([inputs[i] for i in g])
            img, reg, feat = self._forward_net(student, x)
            s_img.append(img.view(len(g), B, -1))
            s_reg.append(reg.view(len(g), B, *reg.shape[1:]))
            s_feat.append(feat.view(len(g), B, *feat.shape[1:]))

        with torch.no_grad():
            self.teacher.update_parameters(student)
            t_img, t_reg, t_feat = self._forward_net(
                self.teacher.module, torch.cat(list(inputs[:T])))
            t_img = t_img.view(T, B, -1)
            t_reg = t_reg.view(T, B, *t_reg.shape[1:])
            t_feat = t_feat.view(T, B, *t_feat.shape[1:])
            temp = self.teacher_temp
            p_img = self.loss_image.teacher_probs(t_img, temp)
            p_reg = self.loss_region.teacher_probs(t_reg, temp)

        losses = dict(
            loss_image=self.loss_image(s_img, p_img),
            loss_region=self.loss_region(s_reg, p_reg, s_feat, t_feat))
        if self.inter_teacher:
            _, a_t = self.mil_pooling(t_feat.flatten(0, 1))
            losses['loss_inter_teacher'] = self.loss_inter(
                p_img.flatten(0, 1).clamp_min(1e-30).log(),
                p_reg.flatten(0, 1).clamp_min(1e-30).log(), a_t)
        if self.inter_student:
            tau = self.loss_image.student_temp
            inter = []
            for img, reg, feat in zip(s_img, s_reg, s_feat):
                _, a_s = self.mil_pooling(feat.flatten(0, 1))
                inter.append(
                    self.loss_inter(
                        F.log_softmax(img.flatten(0, 1).float() / tau, -1),
                        F.log_softmax(reg.flatten(0, 1).float() / tau, -1),
                        a_s) * img.shape[0])
            losses['loss_inter_student'] = sum(inter) / len(inputs)
        self.loss_image.update_center(t_img)
        self.loss_region.update_center(t_reg)
        return losses

    @staticmethod
    def accepts_n_last_blocks(model: nn.Module,
                              arg: str = 'n_last_blocks') -> bool:
        """Whether ``model.extract_feat`` takes the keyword ``arg``."""
        fn = getattr(model, 'extract_feat', None)
        return fn is not None and \
            arg in inspect.signature(fn).parameters

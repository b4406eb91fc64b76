"""Pseudo segmentation masks from class activation maps (WSSS), pure
tensor functions (no I/O).

The usual seed protocol (IRN, BAS's WSSS code): the maps of the classes in
the image-level label are resized to the image, each is divided by its
maximum, the background gets a constant score ``bg_threshold``, and every
pixel takes the arg-max label (0 background, ``c + 1`` for class ``c``).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['pseudo_label_map']


def pseudo_label_map(class_maps: Tensor,
                     labels: Tensor,
                     size: Tuple[int, int],
                     bg_threshold: float = 0.25,
                     eps: float = 1e-5) -> Tensor:
    """Seed label map of one image.

    Args:
        class_maps (Tensor): ``(C, h, w)`` non-negative class maps.
        labels (Tensor): ``(K,)`` class indices present in the image
            (``K >= 1``; others can never be predicted).
        size (tuple[int, int]): output ``(H, W)`` (the original image).
        bg_threshold (float): background score in the max-normalised
            scale; higher gives smaller objects.
        eps (float): added to each map's maximum.

    Returns:
        Tensor: ``(H, W)`` long labels in ``{0} ∪ {labels + 1}``.
    """
    if labels.numel() == 0:
        return torch.zeros(size, dtype=torch.long, device=class_maps.device)
    maps = class_maps[labels.long()][None].float()
    maps = F.interpolate(
        maps, size=tuple(size), mode='bilinear', align_corners=False)[0]
    maps = maps.clamp(min=0)
    maps = maps / (maps.amax(dim=(1, 2), keepdim=True) + eps)
    bg = torch.full_like(maps[:1], bg_threshold)
    idx = torch.cat([bg, maps]).argmax(0)
    lut = torch.cat([labels.new_zeros(1), labels.long() + 1])
    return lut[idx]

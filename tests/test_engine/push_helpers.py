"""Tiny model / dataset shared by the prototype push, prune and phase tests.

Holds no tests: a 2-conv backbone (registered as ``TinyProtoBackbone``) and
an in-memory dataset (``TinyProtoDataset``) whose class-``c`` images carry a
bright square at a class-specific place, so a ProtoPNet learns them fast.
"""
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import pseudo_collate
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, Dataset

from mmfg.registry import DATASETS, MODELS

IMG = 32


@MODELS.register_module(force=True)
class TinyProtoBackbone(nn.Module):
    """Two strided 3x3 convs: ``(B, 3, 32, 32)`` → ``((B, 16, 8, 8),)``."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return (torch.relu(self.conv2(torch.relu(self.conv1(x)))), )


@DATASETS.register_module(force=True)
class TinyProtoDataset(Dataset):
    """``num_classes * per_class`` 32x32 images (deterministic).

    Args:
        num_classes (int): classes.
        per_class (int): images per class.
        seed (int): noise seed.
        pipeline: ignored (kept for config compatibility).
    """

    def __init__(self, num_classes: int = 3, per_class: int = 6,
                 seed: int = 0, pipeline: Optional[list] = None,
                 **kwargs) -> None:
        rng = np.random.default_rng(seed)
        self.items = []
        self.metainfo = dict(classes=[f'c{i}' for i in range(num_classes)])
        for i in range(num_classes * per_class):
            c = i % num_classes
            img = rng.integers(0, 60, (IMG, IMG, 3)).astype(np.uint8)
            y = 4 + 8 * (c % 3)
            x = 4 + 8 * ((c // 3) % 3)
            img[y:y + 8, x:x + 8] = 200 + 15 * (c % 4)
            self.items.append((img, c))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        img, c = self.items[i]
        ds = DataSample(metainfo=dict(
            sample_idx=i, img_shape=(IMG, IMG), img_path=f'tiny_{i}.png',
            trans_mat=np.eye(3)))
        ds.set_gt_label(c)
        return dict(inputs=torch.from_numpy(img).permute(2, 0, 1).contiguous(),
                    data_samples=ds)


def tiny_model_cfg(head: str = 'ProtoPNetHead', num_classes: int = 3,
                   **head_kwargs) -> dict:
    """An ``ImageClassifier`` config over the tiny backbone."""
    head_cfg = dict(type=head, num_classes=num_classes, in_channels=16,
                    prototypes_per_class=2, prototype_dim=8)
    if head == 'STProtoPNetHead':
        head_cfg.update(upsample_factor=1)
    head_cfg.update(head_kwargs)
    return dict(
        type='ImageClassifier',
        backbone=dict(type='TinyProtoBackbone'),
        head=head_cfg,
        data_preprocessor=dict(
            type='ClsDataPreprocessor', num_classes=num_classes,
            mean=[127.5] * 3, std=[127.5] * 3))


def build_tiny_model(head: str = 'ProtoPNetHead', seed: int = 0,
                     **kw) -> nn.Module:
    from mmengine.registry import DefaultScope

    import mmfg.models  # noqa: F401 (registers the heads)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmfg'):
        return MODELS.build(tiny_model_cfg(head, **kw))


def tiny_loader(dataset: Dataset, batch_size: int = 5,
                sampler=None) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False,
                      sampler=sampler, collate_fn=pseudo_collate)


def all_latents(model, dataset: Dataset, name: str = '') -> List[torch.Tensor]:
    """Latent map ``(D, h, w)`` of every image, one image at a time."""
    layer = model.head.prototype_layers()[name]
    out = []
    with torch.no_grad():
        model.eval()
        for i in range(len(dataset)):
            data = model.data_preprocessor(pseudo_collate([dataset[i]]),
                                           False)
            out.append(layer.latent(model.extract_feat(data['inputs']))[0])
    return out

"""ForgetMe: object unlearning by LoRA on backgrounds, and the Entangled
metric (paired Entangled-D, unpaired Entangled-S)."""
from .creation import (GrabCutSegmenter, Inpainter, MaskFolderSegmenter,
                       OpenCVInpainter, Segmenter, create_forgetme_dataset,
                       feather_mask)
from .dataset import ForgetMeDataset, LoadForgetMeImages, PackForgetMeInputs
from .entangled import consistency, entangled, entangled_d, entangled_s
from .metrics import Entangled
from .model import ForgetMeLoRA

__all__ = [
    'Segmenter', 'GrabCutSegmenter', 'MaskFolderSegmenter', 'Inpainter',
    'OpenCVInpainter', 'feather_mask', 'create_forgetme_dataset',
    'ForgetMeDataset', 'LoadForgetMeImages', 'PackForgetMeInputs',
    'entangled', 'entangled_d', 'entangled_s', 'consistency', 'Entangled',
    'ForgetMeLoRA'
]

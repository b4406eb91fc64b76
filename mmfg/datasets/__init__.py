from .base import FineGrainedDataset
from .cross_view import CrossViewDataset, SynthBirdsCrossView
from .cub import CUB
from .cub_style import CUBStyleDataset
from .fgvc_aircraft import FGVCAircraft
from .inaturalist import INaturalist
from .nabirds import NABirds
from .samplers import MPerClassSampler
from .stanford_cars import StanfordCars
from .stanford_dogs import StanfordDogs
from .synthbirds import SynthBirds, ensure_synthbirds
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _transforms_all
from .voc import PascalVOC2012
from .wsol_metadata import WSOLMetadataDataset

__all__ = list(_transforms_all) + [
    'FineGrainedDataset', 'CUBStyleDataset', 'CUB', 'NABirds', 'SynthBirds',
    'ensure_synthbirds', 'StanfordDogs', 'StanfordCars', 'FGVCAircraft',
    'INaturalist', 'PascalVOC2012', 'MPerClassSampler', 'CrossViewDataset',
    'SynthBirdsCrossView'
]

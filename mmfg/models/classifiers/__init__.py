from .attribution_classifier import AttributionClassifier
from .bas import BAS
from .cam_localizer import CAMLocalizer
from .dmml import MutualMetricLearner
from .image_neck import ImageNeckClassifier
from .meta_classifier import MetaImageClassifier

from .attribution import AttributionMetric
from .concepts import ConceptAttributeMetric
from .cross_view_retrieval import CrossViewRetrievalMetric
from .interpretability import (ExplanationSparsity, PrototypeConsistency,
                               PrototypePartLocalization, PrototypePurity,
                               PrototypeStability)
from .retrieval import RetrievalMetric, knn_search, retrieval_metrics
from .score_key import ScoreKeyMetric
from .tree_metrics import TreeFidelity
from .wsol import LocalizationMetric

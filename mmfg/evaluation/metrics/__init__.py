from .interpretability import (ExplanationSparsity, PrototypeConsistency,
                               PrototypePartLocalization, PrototypePurity,
                               PrototypeStability)
from .retrieval import RetrievalMetric, knn_search, retrieval_metrics
from .score_key import ScoreKeyMetric
from .tree_metrics import TreeFidelity
from .wsol import LocalizationMetric


from .tree_metrics import TreeFidelity
from .interpretability import (ExplanationSparsity,  # noqa: F401
                               PrototypeConsistency,
                               PrototypePartLocalization, PrototypePurity,
                               PrototypeStability)

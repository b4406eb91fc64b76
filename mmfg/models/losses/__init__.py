from .code_regression_loss import CodeRegressionLoss
from .concept_losses import (ConceptExplanationLoss, ConceptSparsityLoss,
                             attention_entropy, explanation_mse)
from .distillation_losses import MILDistillLoss, MultiCropDistillLoss
from .info_nce import InfoNCELoss, info_nce
from .metric_losses import (ContrastiveLoss, TripletLoss, ZeroMeanRegularizer,
                            zero_mean_regularizer)
from .miners import label_masks, mine_pairs, mine_triplets
from .prototype_losses import ProtoPNetLoss, STProtoPNetLoss
from .relational_losses import RKDLoss
from .wsol_losses import (ActivationMapConstraintLoss, AreaLoss,
                          ForegroundGuidanceLoss)

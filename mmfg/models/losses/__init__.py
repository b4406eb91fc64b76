from .code_regression_loss import CodeRegressionLoss
from .metric_losses import (ContrastiveLoss, TripletLoss, ZeroMeanRegularizer,
                            zero_mean_regularizer)
from .miners import label_masks, mine_pairs, mine_triplets
from .prototype_losses import ProtoPNetLoss, STProtoPNetLoss
from .relational_losses import RKDLoss
from .wsol_losses import (ActivationMapConstraintLoss, AreaLoss,
                          ForegroundGuidanceLoss)

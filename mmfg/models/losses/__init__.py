
from .prototype_losses import ProtoPNetLoss, STProtoPNetLoss  # noqa: F401

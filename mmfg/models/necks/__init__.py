
from .gabor import GaborTextureNeck  # noqa: F401
from .mil_pooling import AttentionMILPooling  # noqa: F401
from .rbi import RBINeck  # noqa: F401

from .bas_head import BASHead
from .cct_head import CCTHead
from .dino_projection_head import DINOProjectionHead
from .metric_head import EmbeddingHead
from .protopnet_head import ProtoPNetHead, PrototypeHeadMixin
from .prototree_head import ProtoTreeHead
from .prototype_layer import PrototypeLayer
from .st_protopnet_head import STProtoPNetHead
from .target_embedding_head import TargetEmbeddingHead


from .prototree_head import ProtoTreeHead
from .prototype_layer import PrototypeLayer  # noqa: F401
from .protopnet_head import ProtoPNetHead, PrototypeHeadMixin  # noqa: F401
from .st_protopnet_head import STProtoPNetHead  # noqa: F401

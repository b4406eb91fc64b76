from .freeze_hook import FreezeModulesHook
from .num_classes_check_hook import NumClassesCheckHook

__all__ = ['FreezeModulesHook', 'NumClassesCheckHook']
from .prototree_hooks import (ProtoTreeLeafUpdateHook,
                              ProtoTreePruneProjectHook, ProtoTreeRenderHook,
                              TreeProjection)
from .prototype_hooks import (PrototypeRenormHook,  # noqa: F401
                              PrototypeStabilityHook)
from .prune_hook import PrototypePruneHook, prune_prototypes  # noqa: F401
from .push_hook import PrototypePushHook, push_prototypes  # noqa: F401

from .freeze_hook import FreezeModulesHook
from .localization_vis_hook import LocalizationVisualizationHook
from .meta_dropout import MetaDropoutScheduleHook
from .num_classes_check_hook import NumClassesCheckHook
from .prototree_hooks import (ProtoTreeLeafUpdateHook,
                              ProtoTreePruneProjectHook, ProtoTreeRenderHook,
                              TreeProjection)
from .prototype_hooks import (PrototypeInitHook, PrototypeRenormHook,
                              PrototypeStabilityHook)
from .prune_hook import PrototypePruneHook, prune_prototypes
from .push_hook import PrototypePushHook, push_prototypes
from .teacher_temp_hook import TeacherTempWarmupHook, teacher_temp_at

__all__ = [
    'FreezeModulesHook', 'NumClassesCheckHook', 'MetaDropoutScheduleHook',
    'LocalizationVisualizationHook', 'ProtoTreeLeafUpdateHook',
    'ProtoTreePruneProjectHook', 'ProtoTreeRenderHook', 'TreeProjection',
    'PrototypeInitHook', 'PrototypeRenormHook', 'PrototypeStabilityHook',
    'PrototypePruneHook', 'prune_prototypes', 'PrototypePushHook',
    'push_prototypes', 'TeacherTempWarmupHook', 'teacher_temp_at'
]

from .freeze_hook import FreezeModulesHook
from .num_classes_check_hook import NumClassesCheckHook

__all__ = ['FreezeModulesHook', 'NumClassesCheckHook']

from .tools import add_num_classes_check, prepare_runtime, set_default_work_dir

__all__ = ['add_num_classes_check', 'prepare_runtime', 'set_default_work_dir']

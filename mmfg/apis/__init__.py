from .inference import explain, inference, init_model, to_jsonable
from .tools import (add_num_classes_check, build_runner, load_config,
                    prepare_runtime, set_default_work_dir)

__all__ = [
    'explain', 'inference', 'init_model', 'to_jsonable',
    'add_num_classes_check', 'build_runner', 'load_config', 'prepare_runtime',
    'set_default_work_dir'
]

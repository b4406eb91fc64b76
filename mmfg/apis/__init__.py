from .attribution import attribute
from .inference import explain, inference, init_model, to_jsonable
from .localization import localize
from .probe import (extract_features, knn_classify, linear_probe,
                    pool_features, retrieval_eval)
from .retrieval import embed_images, retrieve
from .tools import (add_num_classes_check, build_runner,
                    explain_override_errors, load_config, prepare_runtime,
                    set_default_work_dir)
from .wsss import evaluate_pseudo_masks, export_pseudo_masks

__all__ = [
    'attribute',
    'explain', 'inference', 'init_model', 'to_jsonable', 'localize',
    'add_num_classes_check', 'build_runner', 'explain_override_errors',
    'load_config', 'prepare_runtime',
    'set_default_work_dir', 'embed_images', 'retrieve',
    'export_pseudo_masks', 'evaluate_pseudo_masks', 'extract_features',
    'linear_probe', 'knn_classify', 'retrieval_eval', 'pool_features'
]

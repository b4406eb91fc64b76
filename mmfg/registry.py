"""mmfg registry nodes.

Every node is a child of the MMPretrain node of the same name (scope
``mmfg``), so with ``default_scope='mmfg'`` a config resolves mmfg types
first, then MMPretrain's, then MMEngine's. From a config whose default scope
is ``mmpretrain`` the types are reachable as ``mmfg.TypeName`` once
``mmfg.models`` (or any mmfg package) has been imported, e.g. through
``custom_imports``.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpt

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'BATCH_AUGMENTS', 'TASK_UTILS',
    'TOKENIZER', 'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS'
]


def _child(name: str, parent: Registry, location: str) -> Registry:
    return Registry(
        name, parent=parent, scope='mmfg', locations=[location])


RUNNERS = _child('runner', mmpt.RUNNERS, 'mmfg.engine')
RUNNER_CONSTRUCTORS = _child('runner constructor', mmpt.RUNNER_CONSTRUCTORS,
                             'mmfg.engine')
LOOPS = _child('loop', mmpt.LOOPS, 'mmfg.engine')
HOOKS = _child('hook', mmpt.HOOKS, 'mmfg.engine')
LOG_PROCESSORS = _child('log processor', mmpt.LOG_PROCESSORS, 'mmfg.engine')
OPTIMIZERS = _child('optimizer', mmpt.OPTIMIZERS, 'mmfg.engine')
OPTIM_WRAPPERS = _child('optimizer_wrapper', mmpt.OPTIM_WRAPPERS,
                        'mmfg.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    mmpt.OPTIM_WRAPPER_CONSTRUCTORS,
                                    'mmfg.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', mmpt.PARAM_SCHEDULERS,
                          'mmfg.engine')

DATASETS = _child('dataset', mmpt.DATASETS, 'mmfg.datasets')
DATA_SAMPLERS = _child('data sampler', mmpt.DATA_SAMPLERS, 'mmfg.datasets')
TRANSFORMS = _child('transform', mmpt.TRANSFORMS, 'mmfg.datasets')

MODELS = _child('model', mmpt.MODELS, 'mmfg.models')
MODEL_WRAPPERS = _child('model_wrapper', mmpt.MODEL_WRAPPERS, 'mmfg.models')
WEIGHT_INITIALIZERS = _child('weight initializer', mmpt.WEIGHT_INITIALIZERS,
                             'mmfg.models')
BATCH_AUGMENTS = _child('batch augment', mmpt.BATCH_AUGMENTS, 'mmfg.models')
TASK_UTILS = _child('task util', mmpt.TASK_UTILS, 'mmfg.models')
TOKENIZER = _child('tokenizer', mmpt.TOKENIZER, 'mmfg.models')

METRICS = _child('metric', mmpt.METRICS, 'mmfg.evaluation')
EVALUATORS = _child('evaluator', mmpt.EVALUATORS, 'mmfg.evaluation')

VISUALIZERS = _child('visualizer', mmpt.VISUALIZERS, 'mmfg.visualization')
VISBACKENDS = _child('vis_backend', mmpt.VISBACKENDS, 'mmfg.visualization')

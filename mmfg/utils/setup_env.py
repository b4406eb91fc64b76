import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmfg (and MMPretrain) module so all types are registered.

    Args:
        init_default_scope (bool): set the global default scope to ``mmfg``
            so registries build from mmfg's nodes first (then MMPretrain's,
            then MMEngine's). Defaults to True.
    """
    import mmpretrain.utils
    mmpretrain.utils.register_all_modules(init_default_scope=False)

    import mmfg.apis  # noqa: F401
    import mmfg.datasets  # noqa: F401
    import mmfg.engine  # noqa: F401
    import mmfg.evaluation  # noqa: F401
    import mmfg.models  # noqa: F401
    import mmfg.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('mmfg', scope_name='mmfg')
    elif current.scope_name != 'mmfg':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "mmfg"; register_all_modules switches it to '
                      '"mmfg". Pass init_default_scope=False to keep it.')
        DefaultScope.get_instance(
            f'mmfg-{datetime.datetime.now()}', scope_name='mmfg')

import pytest
from mmengine.registry import init_default_scope


@pytest.fixture(autouse=True)
def _mmfg_default_scope():
    """Every test starts in the mmfg scope (the registered ForgetMe
    components are imported by the test modules)."""
    init_default_scope('mmfg')
    yield

import pytest
from mmengine.registry import init_default_scope


@pytest.fixture(autouse=True)
def _mmfg_default_scope():
    """Every test starts in the mmfg scope, whatever the previous test (e.g.
    a Runner built from an MMPretrain config) left as the current scope."""
    init_default_scope('mmfg')
    yield

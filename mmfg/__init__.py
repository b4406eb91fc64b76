"""mmfg: fine-grained visual recognition for MMPretrain / MMEngine."""
import warnings

# mmcv-lite (no compiled ops) warns on every start that MMCV's deformable
# attention is missing; no mmfg component uses it. Other warnings stay.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from .utils.compat import apply_compat_patches  # noqa: E402
from .version import __version__, version_info  # noqa: E402

apply_compat_patches()

__all__ = ['__version__', 'version_info']

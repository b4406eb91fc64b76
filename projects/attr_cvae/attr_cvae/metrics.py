"""ELBO terms of a VAE as an MMEngine metric."""
import math
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmfg.registry import METRICS

__all__ = ['ELBOMetric']


@METRICS.register_module()
class ELBOMetric(BaseMetric):
    """Mean per-image ``elbo``, ``recon_nll``, ``kl`` (nats) and
    ``recon_mse`` that the model's ``predict`` attached, plus
    ``bits_per_dim = -elbo / (num_dims * ln 2)``.

    Per-image values are gathered over ranks by MMEngine (DDP-correct).

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): defaults to ``'cvae'``.
    """

    default_prefix: Optional[str] = 'cvae'
    KEYS = ('elbo', 'recon_nll', 'kl', 'recon_mse')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            missing = [k for k in self.KEYS if k not in ds]
            if missing:
                raise KeyError(
                    f'ELBOMetric: the data samples have no {missing}; use a '
                    'model whose predict() attaches them (AttributeCVAE).')
            row = {k: float(ds[k]) for k in self.KEYS}
            row['num_dims'] = int(np.prod(ds['img_shape'])) * 3 \
                if 'img_shape' in ds else 0
            self.results.append(row)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        out = {k: float(np.mean([r[k] for r in results])) for k in self.KEYS}
        dims = results[0]['num_dims']
        if dims:
            out['bits_per_dim'] = -out['elbo'] / (dims * math.log(2))
        return out

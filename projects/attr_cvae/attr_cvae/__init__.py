"""Attribute-conditioned CVAE (Sohn et al. 2015; attributes as in
arXiv 2305.00980): recognition, prior and generator networks conditioned on
attribute vectors, the beta-weighted ELBO and sampling."""
from .metrics import ELBOMetric
from .model import AttributeCVAE, gaussian_kl

__all__ = ['AttributeCVAE', 'gaussian_kl', 'ELBOMetric']

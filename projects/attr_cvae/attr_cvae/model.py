"""Attribute-conditioned CVAE (Sohn et al. 2015) for bird images."""
import math
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmfg.registry import MODELS
from mmfg.utils.errors import ConfigError

__all__ = ['gaussian_kl', 'AttributeCVAE']


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor,
                logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, diag e^logvar_q) || N(mu_p, diag e^logvar_p)) per row.

    ``0.5 * sum_d [logvar_p - logvar_q + (e^logvar_q + (mu_q - mu_p)^2) /
    e^logvar_p - 1]``.

    Args:
        mu_q, logvar_q, mu_p, logvar_p (Tensor): ``(B, D)``.

    Returns:
        Tensor: ``(B,)`` in nats.
    """
    return 0.5 * (logvar_p - logvar_q +
                  (logvar_q.exp() + (mu_q - mu_p)**2) * (-logvar_p).exp() -
                  1).sum(dim=-1)


def _mlp(dims: List[int]) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


@MODELS.register_module()
class AttributeCVAE(BaseModel):
    """Conditional VAE whose condition ``y`` is an attribute vector.

    Three networks (Sohn et al., "Learning Structured Output Representation
    using Deep Conditional Generative Models", NeurIPS 2015), all fed the
    embedding ``e(y)`` of the attribute vector:

    - recognition ``q(z | x, y)``: conv encoder of ``x`` + ``e(y)`` -> MLP
      -> diagonal Gaussian;
    - prior ``p(z | y)``: MLP of ``e(y)`` -> diagonal Gaussian;
    - generator ``p(x | y, z)``: MLP of ``[z, e(y)]`` -> transposed convs ->
      per-pixel Bernoulli logits (or Gaussian means of fixed ``sigma``).

    Loss (the negative beta-weighted ELBO, per image, averaged):
    ``-E_q[log p(x | y, z)] + beta * KL(q(z | x, y) || p(z | y))``;
    ``beta > 1`` trades reconstruction for samples closer to the prior
    (more plausible generations).

    The condition comes from the data samples: ``attribute_source='image'``
    uses the image-level ``attributes`` (0/1, CUB ``with_attributes=True``);
    with ``min_certainty`` every attribute whose ``attribute_certainty``
    (CUB: 1 not visible, 2 guessing, 3 probably, 4 definitely) is lower is
    set to ``uncertain_value``. ``attribute_source='class'`` uses the
    class-level table ``class_attributes_file``
    (``class_attribute_labels_continuous.txt``, percentages, divided by 100)
    indexed by ``gt_label``.

    ``predict`` attaches per image ``elbo`` (beta = 1, nats), ``recon_nll``,
    ``kl`` and ``recon_mse`` (posterior-mean reconstruction vs input in
    ``[0, 1]``), read by :class:`ELBOMetric`. :meth:`sample` draws images for
    chosen attribute vectors.

    Args:
        num_attributes (int): length of ``y`` (CUB: 312, SynthBirds: 28).
        image_size (int): square input size, a multiple of 8 (>= 8).
            Defaults to 32.
        latent_dim (int): ``z`` size. Defaults to 32.
        base_channels (int): channels of the first conv. Defaults to 32.
        hidden_dim (int): MLP width. Defaults to 256.
        embed_dim (int): attribute embedding size. Defaults to 64.
        beta (float): KL weight. Defaults to 1.
        likelihood (str): ``'bernoulli'`` (continuous BCE) or
            ``'gaussian'`` (fixed ``sigma``). Defaults to ``'bernoulli'``.
        sigma (float): Gaussian likelihood std. Defaults to 0.1.
        attribute_source (str): ``'image'`` or ``'class'``. Defaults to
            ``'image'``.
        min_certainty (int, optional): certainty filter (image level).
        uncertain_value (float): value of filtered attributes. Defaults to
            0.5.
        class_attributes_file (str, optional): class-level table (needed
            for ``attribute_source='class'``).
        data_preprocessor (dict, optional): defaults to RGB in ``[0, 1]``
            from the BGR uint8 images of ``LoadImageFromFile``.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 num_attributes: int,
                 image_size: int = 32,
                 latent_dim: int = 32,
                 base_channels: int = 32,
                 hidden_dim: int = 256,
                 embed_dim: int = 64,
                 beta: float = 1.0,
                 likelihood: str = 'bernoulli',
                 sigma: float = 0.1,
                 attribute_source: str = 'image',
                 min_certainty: Optional[int] = None,
                 uncertain_value: float = 0.5,
                 class_attributes_file: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='ImgDataPreprocessor',
                mean=[0.] * 3,
                std=[255.] * 3,
                bgr_to_rgb=True)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if image_size < 8 or image_size % 8:
            raise ConfigError(f'AttributeCVAE: image_size must be a multiple '
                              f'of 8 (>= 8), got {image_size}.')
        if likelihood not in ('bernoulli', 'gaussian'):
            raise ConfigError(f'AttributeCVAE: likelihood must be "bernoulli"'
                              f' or "gaussian", got {likelihood!r}.')
        if attribute_source not in ('image', 'class'):
            raise ConfigError('AttributeCVAE: attribute_source must be '
                              f'"image" or "class", got {attribute_source!r}.')
        self.num_attributes = num_attributes
        self.image_size = image_size
        self.latent_dim = latent_dim
        self.beta = beta
        self.likelihood = likelihood
        self.sigma = sigma
        self.attribute_source = attribute_source
        self.min_certainty = min_certainty
        self.uncertain_value = uncertain_value
        if attribute_source == 'class':
            if class_attributes_file is None:
                raise ConfigError(
                    "AttributeCVAE: attribute_source='class' needs "
                    'class_attributes_file (attributes/'
                    'class_attribute_labels_continuous.txt).')
            table = self._read_class_table(class_attributes_file)
            self.register_buffer('class_attributes', table, persistent=False)

        n_down = int(math.log2(image_size // 4))
        if 4 * 2**n_down != image_size:
            raise ConfigError(f'AttributeCVAE: image_size/4 must be a power '
                              f'of two, got {image_size}.')
        chans = [base_channels * 2**i for i in range(n_down)]
        enc: List[nn.Module] = []
        c_in = 3
        for c in chans:
            enc += [nn.Conv2d(c_in, c, 4, 2, 1), nn.SiLU()]
            c_in = c
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self._feat_shape = (chans[-1], 4, 4)
        feat = chans[-1] * 16
        self.embed = _mlp([num_attributes, hidden_dim, embed_dim])
        self.recognition = _mlp([feat + embed_dim, hidden_dim, 2 * latent_dim])
        self.prior = _mlp([embed_dim, hidden_dim, 2 * latent_dim])
        self.gen_fc = _mlp([latent_dim + embed_dim, hidden_dim, feat])
        dec: List[nn.Module] = []
        for c_hi, c_lo in zip(chans[::-1], chans[::-1][1:] + [base_channels]):
            dec += [nn.SiLU(), nn.ConvTranspose2d(c_hi, c_lo, 4, 2, 1)]
        self.decoder = nn.Sequential(*dec, nn.SiLU(),
                                     nn.Conv2d(base_channels, 3, 3, 1, 1))

    @staticmethod
    def _read_class_table(path: str) -> Tensor:
        try:
            table = np.loadtxt(path, dtype=np.float32, ndmin=2)
        except (OSError, ValueError) as e:
            raise ConfigError(
                f'AttributeCVAE: cannot read the class attribute table '
                f'"{path}" ({e}); it must hold one row of percentages per '
                'class.') from None
        return torch.from_numpy(table / 100.)

    # -- conditions ------------------------------------------------------
    def attributes_of(self, data_samples: List[DataSample],
                      device: torch.device) -> Tensor:
        """The condition ``y`` ``(B, A)`` of a batch (see class doc)."""
        if self.attribute_source == 'class':
            labels = torch.stack([
                torch.as_tensor(ds.gt_label).reshape(-1)[0]
                for ds in data_samples
            ]).to(self.class_attributes.device)
            y = self.class_attributes[labels]
        else:
            if 'attributes' not in data_samples[0]:
                raise KeyError(
                    'AttributeCVAE: the data samples have no "attributes"; '
                    'set with_attributes=True on the dataset (and keep '
                    'PackFGInputs).')
            y = torch.stack(
                [torch.as_tensor(ds.attributes) for ds in data_samples])
            if self.min_certainty is not None:
                if 'attribute_certainty' not in data_samples[0]:
                    raise KeyError(
                        'AttributeCVAE: min_certainty needs '
                        '"attribute_certainty": add it to PackFGInputs\' '
                        "algorithm_keys=('attribute_certainty',).")
                cert = torch.stack([
                    torch.as_tensor(ds.attribute_certainty)
                    for ds in data_samples
                ])
                y = torch.where(cert < self.min_certainty,
                                torch.full_like(y, self.uncertain_value), y)
        y = y.float().to(device)
        if y.shape[1] != self.num_attributes:
            raise ConfigError(
                f'AttributeCVAE: the data has {y.shape[1]} attributes but '
                f'num_attributes={self.num_attributes}; set '
                f'model.num_attributes={y.shape[1]}.')
        return y

    # -- networks --------------------------------------------------------
    def _prior(self, e: Tensor) -> Tuple[Tensor, Tensor]:
        mu, logvar = self.prior(e).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 10)

    def _posterior(self, x: Tensor, e: Tensor) -> Tuple[Tensor, Tensor]:
        h = self.encoder(x * 2 - 1)
        mu, logvar = self.recognition(torch.cat([h, e], -1)).chunk(2, -1)
        return mu, logvar.clamp(-10, 10)

    def decode(self, z: Tensor, e: Tensor) -> Tensor:
        """Generator output ``(B, 3, S, S)``: logits (Bernoulli) or means
        (Gaussian)."""
        h = self.gen_fc(torch.cat([z, e], -1)).view(-1, *self._feat_shape)
        return self.decoder(h)

    def _to_image(self, out: Tensor) -> Tensor:
        return out.sigmoid() if self.likelihood == 'bernoulli' else \
            out.clamp(0, 1)

    def _nll(self, out: Tensor, x: Tensor) -> Tensor:
        """``-log p(x | y, z)`` per image, ``(B,)`` nats."""
        if self.likelihood == 'bernoulli':
            nll = F.binary_cross_entropy_with_logits(
                out, x, reduction='none')
        else:
            nll = 0.5 * ((out - x) / self.sigma)**2 + math.log(
                self.sigma * math.sqrt(2 * math.pi))
        return nll.flatten(1).sum(-1)

    def terms(self, x: Tensor, y: Tensor) -> Dict[str, Tensor]:
        """One-sample ELBO terms per image.

        Args:
            x (Tensor): images ``(B, 3, S, S)`` in ``[0, 1]``.
            y (Tensor): attributes ``(B, A)``.

        Returns:
            dict: ``recon_nll``, ``kl``, ``elbo`` (beta = 1), each ``(B,)``,
            and, in eval mode, ``recon`` (the posterior-mean reconstruction
            in ``[0, 1]``; training mode uses one posterior sample).
        """
        e = self.embed(y)
        mu_q, logvar_q = self._posterior(x, e)
        mu_p, logvar_p = self._prior(e)
        z = mu_q + (0.5 * logvar_q).exp() * torch.randn_like(mu_q) \
            if self.training else mu_q
        out = self.decode(z, e)
        nll = self._nll(out, x)
        kl = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
        out_dict = dict(recon_nll=nll, kl=kl, elbo=-(nll + kl))
        if not self.training:  # z = mu_q: the posterior-mean reconstruction
            out_dict['recon'] = self._to_image(out)
        return out_dict

    @torch.no_grad()
    def sample(self,
               attributes: Tensor,
               num_samples: int = 1,
               temperature: float = 1.0,
               generator: Optional[torch.Generator] = None) -> Tensor:
        """Draw ``x ~ p(x | y, z)``, ``z ~ p(z | y)`` (mean image).

        Args:
            attributes (Tensor): ``(N, A)`` attribute vectors.
            num_samples (int): samples per vector. Defaults to 1.
            temperature (float): prior std multiplier. Defaults to 1.
            generator (torch.Generator, optional): RNG of the latents.

        Returns:
            Tensor: ``(N, num_samples, 3, S, S)`` images in ``[0, 1]``.
        """
        y = attributes.float().to(self.embed[0].weight.device)
        if y.dim() != 2 or y.shape[1] != self.num_attributes:
            raise ValueError(
                f'AttributeCVAE.sample: attributes must be (N, '
                f'{self.num_attributes}), got {tuple(y.shape)}.')
        e = self.embed(y).repeat_interleave(num_samples, 0)
        mu, logvar = self._prior(e)
        eps = torch.randn(mu.shape, generator=generator,
                          device=generator.device if generator else 'cpu')
        z = mu + temperature * (0.5 * logvar).exp() * eps.to(mu)
        img = self._to_image(self.decode(z, e))
        return img.view(len(y), num_samples, *img.shape[1:])

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], list,
                                               Tensor]:
        """``loss``: ``recon_nll``-based loss dict; ``predict``: data samples
        with the ELBO terms; ``tensor``: posterior-mean reconstructions."""
        if inputs.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f'AttributeCVAE: inputs are {tuple(inputs.shape[-2:])} but '
                f'image_size={self.image_size}; resize in the pipeline.')
        y = self.attributes_of(data_samples, inputs.device)
        t = self.terms(inputs, y)
        if mode == 'loss':
            return dict(
                loss_recon=t['recon_nll'].mean(),
                loss_kl=self.beta * t['kl'].mean())
        if mode == 'tensor':
            return t['recon']
        if mode != 'predict':
            raise RuntimeError(f'Invalid mode "{mode}".')
        mse = ((t['recon'] - inputs)**2).flatten(1).mean(-1)
        for i, ds in enumerate(data_samples):
            ds.set_field(t['elbo'][i].detach(), 'elbo')
            ds.set_field(t['recon_nll'][i].detach(), 'recon_nll')
            ds.set_field(t['kl'][i].detach(), 'kl')
            ds.set_field(mse[i].detach(), 'recon_mse')
        return data_samples

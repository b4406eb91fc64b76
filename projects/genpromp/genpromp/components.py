"""Stable Diffusion parts from a local folder or tiny configs (shared by the
GenPromp and ForgetMe projects), and the denoising loss target.

Public signature (stable)::

    build_sd_components(pretrained_model_path=None, components=None,
                        extra_words=()) -> dict(tokenizer, text_encoder, vae,
                                                unet, scheduler)

``pretrained_model_path`` is a local folder in the Stable Diffusion v1-4
layout (``tokenizer/``, ``text_encoder/``, ``vae/``, ``unet/``,
``scheduler/``), loaded with each class's ``from_pretrained`` (no network:
``local_files_only=True``). Without it, ``components`` gives the keyword
arguments of randomly initialised models (``UNet2DConditionModel``,
``AutoencoderKL``, ``CLIPTextConfig``, ``DDPMScheduler``) and a tiny
tokenizer (``tokenizer=dict(words=[...], model_max_length=16)``), which is
how the tests and the SynthBirds configs run on a CPU.
"""
import os.path as osp
from typing import Dict, Optional, Sequence

import torch

from mmfg.utils.errors import ConfigError
from .text import build_tiny_clip_tokenizer

__all__ = ['build_sd_components', 'denoising_target', 'SD_SUBFOLDERS']

SD_SUBFOLDERS = ('tokenizer', 'text_encoder', 'vae', 'unet', 'scheduler')


def _from_folder(path: str) -> Dict[str, object]:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    missing = [s for s in SD_SUBFOLDERS if not osp.isdir(osp.join(path, s))]
    if not osp.isdir(path) or missing:
        raise ConfigError(
            f'Stable Diffusion loader: pretrained_model_path "{path}" is '
            f'not a Stable Diffusion folder (missing '
            f'{missing or list(SD_SUBFOLDERS)}). '
            'Download CompVis/stable-diffusion-v1-4 (diffusers layout) once, '
            'e.g. `huggingface-cli download CompVis/stable-diffusion-v1-4 '
            '--local-dir <dir>`, and set model.pretrained_model_path=<dir>.')
    kw = dict(local_files_only=True)
    return dict(
        tokenizer=CLIPTokenizer.from_pretrained(
            path, subfolder='tokenizer', **kw),
        text_encoder=CLIPTextModel.from_pretrained(
            path, subfolder='text_encoder', **kw),
        vae=AutoencoderKL.from_pretrained(path, subfolder='vae', **kw),
        unet=UNet2DConditionModel.from_pretrained(
            path, subfolder='unet', **kw),
        scheduler=DDPMScheduler.from_pretrained(
            path, subfolder='scheduler', **kw))


def _from_configs(components: dict,
                  extra_words: Sequence[str]) -> Dict[str, object]:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    for key in ('unet', 'vae', 'text_encoder'):
        if key not in components:
            raise ConfigError(
                f'Stable Diffusion loader: model.components has no '
                f'"{key}"; give the keyword arguments of the randomly '
                'initialised model or set model.pretrained_model_path.')
    tok_cfg = dict(components.get('tokenizer', {}))
    words = list(tok_cfg.pop('words', [])) + list(extra_words)
    tokenizer = build_tiny_clip_tokenizer(words, **tok_cfg)
    te_cfg = dict(components['text_encoder'])
    te_cfg.setdefault('vocab_size', len(tokenizer))
    te_cfg.setdefault('max_position_embeddings', tokenizer.model_max_length)
    te_cfg.setdefault('bos_token_id', tokenizer.bos_token_id)
    te_cfg.setdefault('eos_token_id', tokenizer.eos_token_id)
    te_cfg.setdefault('pad_token_id', tokenizer.pad_token_id)
    if te_cfg['vocab_size'] < len(tokenizer):
        raise ConfigError(
            f'Stable Diffusion loader: components.text_encoder.vocab_size '
            f'{te_cfg["vocab_size"]} < the tokenizer\'s {len(tokenizer)} '
            'tokens; drop the key to size it automatically.')
    unet_cfg = dict(components['unet'])
    unet_cfg.setdefault('cross_attention_dim', te_cfg.get('hidden_size'))
    sched_cfg = dict(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule='scaled_linear')
    sched_cfg.update(components.get('scheduler', {}))
    return dict(
        tokenizer=tokenizer,
        text_encoder=CLIPTextModel(CLIPTextConfig(**te_cfg)),
        vae=AutoencoderKL(**components['vae']),
        unet=UNet2DConditionModel(**unet_cfg),
        scheduler=DDPMScheduler(**sched_cfg))


def build_sd_components(pretrained_model_path: Optional[str] = None,
                        components: Optional[dict] = None,
                        extra_words: Sequence[str] = ()) -> dict:
    """Tokenizer, text encoder, VAE, UNet and DDPM scheduler.

    Args:
        pretrained_model_path (str, optional): local SD v1-4 folder.
        components (dict, optional): tiny model configs (used when no path).
        extra_words (Sequence[str]): words the tiny tokenizer must hold as
            single tokens (the template words; ignored with a real
            tokenizer).

    Returns:
        dict: ``tokenizer``, ``text_encoder`` (``CLIPTextModel``), ``vae``
        (``AutoencoderKL``), ``unet`` (``UNet2DConditionModel``),
        ``scheduler`` (``DDPMScheduler``).

    Raises:
        ConfigError: neither given, or a folder not in the SD layout.
    """
    if pretrained_model_path:
        parts = _from_folder(pretrained_model_path)
    elif components:
        parts = _from_configs(components, extra_words)
    else:
        raise ConfigError(
            'Stable Diffusion loader: set model.pretrained_model_path (a '
            'local Stable Diffusion v1-4 folder) or model.components '
            '(tiny configs).')
    with torch.no_grad():
        for key in ('text_encoder', 'vae', 'unet'):
            parts[key].requires_grad_(False)
    return parts


def denoising_target(scheduler, latents: torch.Tensor, noise: torch.Tensor,
                     t: torch.Tensor) -> torch.Tensor:
    """What the UNet regresses for ``scheduler.add_noise(latents, noise,
    t)``: the noise (epsilon prediction) or the velocity
    (``prediction_type='v_prediction'``).

    Args:
        scheduler: a diffusers noise scheduler.
        latents (Tensor): ``(B, 4, h, w)`` clean latents.
        noise (Tensor): ``(B, 4, h, w)``.
        t (Tensor): ``(B,)`` timesteps.

    Returns:
        Tensor: ``(B, 4, h, w)``.
    """
    if scheduler.config.prediction_type == 'v_prediction':
        return scheduler.get_velocity(latents, noise, t)
    return noise

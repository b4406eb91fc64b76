"""ForgetMe: LoRA unlearning of a Stable Diffusion UNet."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import Tensor

from mmfg.registry import MODELS
# one home for "Stable Diffusion parts from a local folder or tiny configs"
from projects.genpromp.genpromp.components import (  # noqa: I001
    build_sd_components, denoising_target)

__all__ = ['ForgetMeLoRA']


@MODELS.register_module()
class ForgetMeLoRA(BaseModel):
    """Unlearn an object by LoRA-fine-tuning a SD UNet on its backgrounds.

    Training (ForgetMe): images whose object was removed (the
    ``background/`` folder) are encoded by the frozen VAE and the UNet,
    frozen except for rank-``lora_rank`` ``peft`` LoRA adapters on the
    attention projections, learns to denoise them under one constant
    ``prompt`` (the epsilon- or v-prediction loss of the scheduler). The
    prompt embedding is computed once and cached; the text encoder is not
    kept.

    Prediction (evaluation): each input (an ``original/`` image) is
    edited SDEdit-style: encoded, noised to ``strength`` of the schedule
    and denoised by ``num_inference_steps`` DDIM steps under the prompt;
    the decoded image is ``pred_img`` (float ``(3, H, W)`` in ``[0, 1]``),
    scored against the original and mask by the :class:`Entangled` metric.
    ``adapter_enabled=False`` runs the same edit without the LoRA (the
    baseline).

    Checkpoints: with ``save_lora_only`` the state dict holds only the LoRA
    weights (a few MB instead of the 3.4 GB UNet), and loading one does not
    report the frozen weights as missing.

    Args:
        pretrained_model_path (str, optional): local SD v1.x folder
            (diffusers layout: ``unet/``, ``vae/``, ``text_encoder/``,
            ``tokenizer/``, ``scheduler/``); read with
            ``local_files_only=True``.
        components (dict, optional): keyword arguments of tiny randomly
            initialised ``unet``, ``vae``, ``text_encoder`` and a tiny
            ``tokenizer`` (used when no path is given; tests, CPU runs).
            Both are passed to GenPromp's
            :func:`~projects.genpromp.genpromp.components.build_sd_components`.
        prompt (str): the constant prompt. Defaults to ``'a photo'``.
        lora_rank (int): LoRA rank. Defaults to 4.
        lora_alpha (float, optional): LoRA scaling numerator (scale =
            alpha / rank). Defaults to None (= rank, scale 1).
        target_modules (Sequence[str]): UNet modules given adapters.
            Defaults to the attention q/k/v/out projections.
        save_lora_only (bool): state dict of the LoRA weights only.
            Defaults to True.
        strength (float): SDEdit noise level in ``(0, 1]``. Defaults to 0.5.
        num_inference_steps (int): DDIM steps of the full schedule.
            Defaults to 20.
        adapter_enabled (bool): use the LoRA when predicting. Defaults to
            True.
        seed (int): seed of the prediction noise (each batch restarts it).
            Defaults to 0.
        data_preprocessor (dict, optional): defaults to MMEngine's
            ``ImgDataPreprocessor`` mapping RGB uint8 to ``[-1, 1]``.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 pretrained_model_path: Optional[str] = None,
                 components: Optional[dict] = None,
                 prompt: str = 'a photo',
                 lora_rank: int = 4,
                 lora_alpha: Optional[float] = None,
                 target_modules: Sequence[str] = ('to_q', 'to_k', 'to_v',
                                                  'to_out.0'),
                 save_lora_only: bool = True,
                 strength: float = 0.5,
                 num_inference_steps: int = 20,
                 adapter_enabled: bool = True,
                 seed: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='ImgDataPreprocessor',
                mean=[127.5] * 3,
                std=[127.5] * 3)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        from peft import LoraConfig
        if not 0 < strength <= 1:
            raise ValueError(f'strength must be in (0, 1], got {strength}.')
        parts = build_sd_components(pretrained_model_path, components)
        self.unet = parts['unet']
        self.vae = parts['vae']
        self.vae.requires_grad_(False)
        self.unet.requires_grad_(False)
        self.unet.add_adapter(
            LoraConfig(
                r=lora_rank,
                lora_alpha=lora_rank if lora_alpha is None else lora_alpha,
                init_lora_weights='gaussian',
                target_modules=list(target_modules)))
        text_encoder = parts['text_encoder'].eval()
        tokenizer = parts['tokenizer']
        with torch.no_grad():
            ids = tokenizer([prompt],
                            padding='max_length',
                            max_length=tokenizer.model_max_length,
                            truncation=True,
                            return_tensors='pt').input_ids
            embeds = text_encoder(ids).last_hidden_state
        self.register_buffer('prompt_embeds', embeds, persistent=False)
        self.scheduler = parts['scheduler']
        self.prompt = prompt
        self.lora_rank = lora_rank
        self.strength = strength
        self.num_inference_steps = num_inference_steps
        self.adapter_enabled = adapter_enabled
        self.seed = seed
        self.save_lora_only = save_lora_only
        if save_lora_only:
            self._register_state_dict_hook(self._keep_lora_only)
            self.register_load_state_dict_post_hook(self._ignore_frozen)

    # -- checkpoints -----------------------------------------------------
    @staticmethod
    def is_lora_key(key: str) -> bool:
        """Whether a state-dict key / parameter name belongs to a LoRA."""
        return '.lora_' in key

    @staticmethod
    def _keep_lora_only(module, state_dict, prefix, local_metadata):
        for key in list(state_dict):
            if key.startswith(prefix) and not ForgetMeLoRA.is_lora_key(key):
                del state_dict[key]
        return state_dict

    @staticmethod
    def _ignore_frozen(module, incompatible_keys) -> None:
        missing = incompatible_keys.missing_keys
        missing[:] = [k for k in missing if ForgetMeLoRA.is_lora_key(k)]

    def train(self, mode: bool = True) -> 'ForgetMeLoRA':
        """Frozen parts stay in eval mode."""
        super().train(mode)
        self.vae.eval()
        return self

    # -- training --------------------------------------------------------
    def _encode(self, images: Tensor, sample: bool) -> Tensor:
        dist = self.vae.encode(images).latent_dist
        latents = dist.sample() if sample else dist.mean
        return latents * self.vae.config.scaling_factor

    def loss(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Denoising loss of the LoRA UNet on ``inputs`` (``[-1, 1]``)."""
        with torch.no_grad():
            latents = self._encode(inputs, sample=True)
        noise = torch.randn_like(latents)
        t = torch.randint(
            0,
            self.scheduler.config.num_train_timesteps, (latents.shape[0], ),
            device=latents.device)
        noisy = self.scheduler.add_noise(latents, noise, t)
        cond = self.prompt_embeds.expand(latents.shape[0], -1, -1)
        pred = self.unet(noisy, t, encoder_hidden_states=cond).sample
        target = denoising_target(self.scheduler, latents, noise, t)
        return dict(loss=F.mse_loss(pred.float(), target.float()))

    # -- prediction ------------------------------------------------------
    @torch.no_grad()
    def edit(self, inputs: Tensor) -> Tensor:
        """SDEdit ``inputs`` (``(B, 3, H, W)`` in ``[-1, 1]``) under the
        prompt; returns ``(B, 3, H, W)`` in ``[0, 1]``."""
        from diffusers import DDIMScheduler
        ddim = DDIMScheduler.from_config(self.scheduler.config)
        ddim.set_timesteps(self.num_inference_steps, device=inputs.device)
        n_run = max(1, int(round(self.num_inference_steps * self.strength)))
        timesteps = ddim.timesteps[-n_run:]
        latents = self._encode(inputs, sample=False)
        gen = torch.Generator(device=inputs.device).manual_seed(self.seed)
        noise = torch.randn(
            latents.shape, generator=gen, device=latents.device,
            dtype=latents.dtype)
        x = ddim.add_noise(latents, noise, timesteps[:1].repeat(len(noise)))
        cond = self.prompt_embeds.expand(latents.shape[0], -1, -1)
        if self.adapter_enabled:
            self.unet.enable_adapters()
        else:
            self.unet.disable_adapters()
        try:
            for t in timesteps:
                eps = self.unet(x, t, encoder_hidden_states=cond).sample
                x = ddim.step(eps, t, x).prev_sample
        finally:
            self.unet.enable_adapters()
        images = self.vae.decode(x / self.vae.config.scaling_factor).sample
        return ((images.float() + 1) / 2).clamp(0, 1)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], list,
                                               Tensor]:
        """``loss``: the denoising loss; ``predict``: data samples with
        ``pred_img``; ``tensor``: the edited images."""
        if mode == 'loss':
            return self.loss(inputs)
        edited = self.edit(inputs)
        if mode == 'tensor':
            return edited
        if mode != 'predict':
            raise RuntimeError(f'Invalid mode "{mode}".')
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(edited))]
        for ds, img in zip(data_samples, edited):
            ds.set_field(img, 'pred_img')
        return data_samples

"""Captions of SynthBirds images for GenPromp's stage 0 (text-to-image).

Public signatures (stable)::

    BODY_COLOUR_WORDS, BACKGROUND_WORDS, CAPTION_WORDS
    body_colour_word(rgb) -> str
    background_word(background_bgr) -> str
    synthbirds_scene_words(seed, img_id, image_size, difficulty) -> dict
    SynthBirdsCaptions(caption_templates=(DEFAULT_CAPTION,), **SynthBirds)

GenPromp's premise is a text-to-image model whose object words already
attend to the objects. A tiny Stable Diffusion trained from scratch has no
such pretraining, so stage 0 emulates it: the UNet (and the text encoder)
learn to denoise SynthBirds images conditioned on a caption of each image.
A caption word is only worth attending where the UNet needs its
information: the body colour varies per image and covers the whole bird,
the background colour covers the rest, so ``'a photo of a brown bird on
sky'`` ties the word at the class position (index 5, where the GenPromp
templates put the class token) to the bird and the last word to the
background.

The words come from the generator, not from labels: every SynthBirds
image ``id`` is drawn from ``np.random.default_rng([seed, id])`` by
:func:`mmfg.datasets.synth.render.sample_scene`, so the scene (body colour,
background) is recomputed exactly; each is named by the nearest palette
colour of the generator (body: up to the generator's brightness scale).
"""
from typing import Dict, List, Sequence

import numpy as np

from mmfg.datasets import SynthBirds
from mmfg.datasets.synth.render import _BG_PALETTE, _BODY_PALETTE, sample_scene
from mmfg.registry import DATASETS
from mmfg.utils.errors import ConfigError

__all__ = [
    'BODY_COLOUR_WORDS', 'BACKGROUND_WORDS', 'CAPTION_WORDS',
    'DEFAULT_CAPTION', 'body_colour_word', 'background_word',
    'synthbirds_scene_words', 'SynthBirdsCaptions'
]

#: One word per colour of the generator's body palette (same order).
BODY_COLOUR_WORDS = ('brown', 'grey', 'olive', 'tan', 'slate', 'buff')
#: One word per colour of the generator's background palette (same order).
BACKGROUND_WORDS = ('sky', 'haze', 'leaves', 'grass', 'forest', 'bark',
                    'sand', 'rock', 'cloud')
#: The colour word sits at index 5 (after the start token), where the
#: GenPromp templates ``'a photo of a {}'`` put the class token.
DEFAULT_CAPTION = 'a photo of a {body} bird on {background}'
#: Every word a SynthBirds caption can hold (for a tiny tokenizer).
CAPTION_WORDS = ('a', 'photo', 'of', 'bird', 'on') + BODY_COLOUR_WORDS + \
    BACKGROUND_WORDS

_SCALE_RANGE = (0.85, 1.15)  # the generator's body brightness scale


def body_colour_word(rgb: Sequence[float]) -> str:
    """Name a bird's body colour by the generator's body palette.

    The generator scales a palette colour by ``s`` in ``[0.85, 1.15]`` and
    jitters it; the word is the palette entry ``b`` with the smallest
    ``||rgb - s* b||`` (``s*`` the least-squares scale clamped to that
    range).

    Args:
        rgb (Sequence[float]): ``(3,)`` RGB body colour.

    Returns:
        str: a word of :data:`BODY_COLOUR_WORDS`.
    """
    c = np.asarray(rgb, np.float64)
    pal = np.asarray(_BODY_PALETTE, np.float64)  # (P, 3)
    s = np.clip(pal @ c / (pal * pal).sum(1), *_SCALE_RANGE)
    err = np.linalg.norm(c[None] - s[:, None] * pal, axis=1)
    return BODY_COLOUR_WORDS[int(np.argmin(err))]


def background_word(background_bgr: np.ndarray) -> str:
    """Name a background by the palette colour nearest to its mean.

    Args:
        background_bgr (np.ndarray): ``(H, W, 3)`` BGR background image (the
            scene's background, without the bird).

    Returns:
        str: a word of :data:`BACKGROUND_WORDS`.
    """
    mean = np.asarray(background_bgr, np.float64).reshape(-1, 3).mean(0)
    rgb = mean[::-1]
    d = np.linalg.norm(np.asarray(_BG_PALETTE, np.float64) - rgb, axis=1)
    return BACKGROUND_WORDS[int(np.argmin(d))]


def synthbirds_scene_words(seed: int, img_id: int, image_size: int,
                           difficulty: str) -> Dict[str, str]:
    """The caption words of one generated SynthBirds image.

    Args:
        seed (int): the dataset's generation seed.
        img_id (int): the image id (1-based, ``images.txt``).
        image_size (int): the generated image size.
        difficulty (str): the generation difficulty.

    Returns:
        dict: ``body`` (a body colour word) and ``background``.
    """
    scene = sample_scene(
        np.random.default_rng([int(seed), int(img_id)]), int(image_size),
        difficulty)
    return dict(
        body=body_colour_word(scene.style.body),
        background=background_word(scene.background))


@DATASETS.register_module()
class SynthBirdsCaptions(SynthBirds):
    """SynthBirds with one caption per image in ``texts`` (as CUB's).

    Each sample gets ``texts`` (list[str], one caption per template) built
    from :func:`synthbirds_scene_words`, the key CUB's ``with_text`` uses,
    so GenPromp's stage 0 reads CUB descriptions and these alike (pack it
    with ``PackFGInputs(meta_keys=(..., 'texts'))``).

    Args:
        caption_templates (Sequence[str]): templates with the fields
            ``{body}`` and ``{background}``. Defaults to
            ``(DEFAULT_CAPTION,)``.
        **kwargs: :class:`~mmfg.datasets.SynthBirds` arguments.

    Raises:
        ConfigError: a template with another field, or no template.
    """

    def __init__(self,
                 caption_templates: Sequence[str] = (DEFAULT_CAPTION, ),
                 **kwargs) -> None:
        if isinstance(caption_templates, str):
            caption_templates = (caption_templates, )
        self.caption_templates = tuple(caption_templates)
        if not self.caption_templates:
            raise ConfigError('SynthBirdsCaptions: caption_templates is '
                              'empty; give at least one template.')
        for tpl in self.caption_templates:
            try:
                tpl.format(body='x', background='x')
            except (KeyError, IndexError) as e:
                raise ConfigError(
                    f'SynthBirdsCaptions: caption template {tpl!r} has an '
                    f'unknown field {e}; use only {{body}} and '
                    '{background}.') from None
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        """SynthBirds samples, each with ``texts`` (list[str])."""
        samples = super().load_data_list()
        cfg = self.gen_cfg
        for sample in samples:
            words = synthbirds_scene_words(cfg['seed'], sample['img_id'],
                                           cfg['image_size'],
                                           cfg['difficulty'])
            sample['texts'] = [
                tpl.format(**words) for tpl in self.caption_templates
            ]
        return samples

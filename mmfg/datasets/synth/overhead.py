"""Location-dependent "overhead" (satellite-like) views for SynthBirds.

An overhead tile is a habitat texture whose content is a smooth function of
the observation location: the latitude sets the palette (ice → forest →
savanna → desert → forest → ice), the longitude the orientation and the
frequency of field stripes, and both the share of water. Per-image noise
(drawn from ``np.random.default_rng([seed, img_id, 3])``, a stream of its
own) adds small variation, so nearby observations look alike, far ones
differ, and a ground→overhead retrieval task is well posed. Because the
locations of a class cluster around its home (see
:func:`~mmfg.datasets.synth.generator.sample_meta`), the overhead view is
informative of the species, as the satellite image is in BirdSAT.

Everything is vectorised numpy over the pixel grid.
"""
import math
from typing import Optional

import numpy as np

__all__ = ['render_overhead', 'habitat_colour']

#: Palette anchors (RGB, 0-1) from the pole (index 0) to the equator.
_PALETTE = np.array([
    [0.92, 0.94, 0.97],  # ice
    [0.25, 0.42, 0.25],  # boreal forest
    [0.55, 0.62, 0.30],  # grassland
    [0.82, 0.70, 0.45],  # desert
    [0.10, 0.45, 0.18],  # rain forest
], np.float64)


def habitat_colour(lat: float, lon: float) -> np.ndarray:
    """Base RGB colour (0-1) of the habitat at ``(lat, lon)`` (degrees).

    Piecewise-linear in ``|lat|`` through :data:`_PALETTE`, tinted by a
    smooth function of the longitude.

    Returns:
        np.ndarray: float64 ``(3,)``.
    """
    t = (90.0 - min(abs(float(lat)), 90.0)) / 90.0 * (len(_PALETTE) - 1)
    i = min(int(math.floor(t)), len(_PALETTE) - 2)
    w = t - i
    colour = (1 - w) * _PALETTE[i] + w * _PALETTE[i + 1]
    lam = math.radians(float(lon))
    tint = 0.08 * np.array([math.sin(lam), math.cos(lam), -math.sin(lam)])
    return np.clip(colour + tint, 0.0, 1.0)


def render_overhead(lat: float,
                    lon: float,
                    size: int,
                    rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Draw the overhead tile of a location.

    Args:
        lat (float): latitude in degrees, ``[-90, 90]``.
        lon (float): longitude in degrees.
        size (int): square side in pixels.
        rng (np.random.Generator, optional): per-image noise; None draws
            none (the noiseless tile of the location).

    Returns:
        np.ndarray: uint8 ``(size, size, 3)`` BGR image (OpenCV order).
    """
    phi, lam = math.radians(float(lat)), math.radians(float(lon))
    jitter = rng.normal(0, 1, 4) if rng is not None else np.zeros(4)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    # Field stripes: orientation and frequency follow the longitude.
    theta = lam + 0.15 * jitter[0]
    freq = 3.0 + 2.5 * (1.0 + math.sin(2 * lam + phi)) + 0.3 * jitter[1]
    u = xx * math.cos(theta) + yy * math.sin(theta)
    stripes = 0.5 + 0.5 * np.sin(2 * math.pi * freq * u + jitter[2])
    # Water: a soft disc whose size grows with a smooth location field.
    water_share = 0.5 * (1.0 + math.sin(3 * phi) * math.cos(lam))
    radius = 0.12 + 0.3 * water_share
    cx = 0.5 + 0.25 * math.cos(lam + phi)
    cy = 0.5 + 0.25 * math.sin(2 * phi) + 0.05 * jitter[3]
    dist = np.sqrt((xx - cx)**2 + (yy - cy)**2)
    water = np.clip((radius - dist) * 12.0, 0.0, 1.0)

    base = habitat_colour(lat, lon)
    img = base[None, None, :] * (0.75 + 0.35 * stripes[..., None])
    water_rgb = np.array([0.12, 0.28, 0.55])
    img = (1 - water[..., None]) * img + water[..., None] * water_rgb
    if rng is not None:
        img = img + rng.normal(0, 0.03, img.shape)
    rgb = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])

"""Procedural rendering of one SynthBirds image.

Rendering is split into a *class-independent* scene and a *class*:

- :func:`sample_scene` draws everything random from a numpy ``Generator``:
  background (gradient, texture, clutter shapes, distractor blobs in part
  colours), pose (facing direction, rotation, scale, position), body shape
  jitter, body colours, foreground occluders, illumination and pixel noise.
  Its distribution does not depend on the class.
- :func:`render_bird` draws a bird with explicit part attributes into a
  scene, deterministically (no random numbers). Rendering the same scene
  with two classes' attributes gives images that differ only inside the
  discriminative part regions (returned as ``region_mask``).

Geometry lives in a canonical bird frame (bird facing right, ``y`` down,
the body centre at the origin, units of roughly one bird length); the pose
maps it to *continuous* image coordinates (pixel ``i`` spans ``[i, i+1)``,
as in ``mmfg.datasets.transforms.geometry``) by
``p = centre + scale * R(angle) @ (facing * x, y)``.

Left and right are the bird's own: a bird facing right (towards ``+x``)
shows the viewer its right side, so its right eye and right wing are the
visible ones; a bird facing left shows its left side. A horizontal flip of
the image therefore turns a right eye into a left eye, matching
:data:`~mmfg.datasets.synth.spec.PART_FLIP_PAIRS`.
"""
import math
from dataclasses import dataclass, field, replace
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from .spec import (ATTRIBUTE_BY_NAME, CREST_COLORS, PART_ATTRIBUTES,
                   PART_NAMES, DifficultyConfig, get_difficulty)

__all__ = [
    'BirdPose', 'BirdShape', 'BirdStyle', 'Occluder', 'BirdScene',
    'BirdRender', 'sample_scene', 'render_bird', 'mirror_scene',
    'neutral_attributes', 'attributes_from_code'
]

Color = Tuple[int, int, int]
Polygon = np.ndarray  # float64 (N, 2)

_SHIFT = 4  # cv2 sub-pixel bits
_SCALE = float(1 << _SHIFT)

# Class-independent colours (RGB).
_BODY_PALETTE: Tuple[Color, ...] = (
    (128, 96, 64),  # brown
    (122, 122, 118),  # grey
    (112, 112, 66),  # olive
    (160, 134, 100),  # tan
    (92, 102, 118),  # slate
    (140, 118, 90),  # buff-brown
)
_BEAK_PALETTE: Tuple[Color, ...] = ((58, 52, 48), (96, 86, 72), (70, 66, 74))
_LEG_COLOR: Color = (72, 60, 50)
_EYE_COLOR: Color = (12, 12, 12)
_LIGHT_MARK: Color = (246, 242, 228)
_DARK_MARK: Color = (22, 20, 20)
_BREAST_MARK: Color = (52, 36, 26)
_EYE_RING_COLORS: Dict[str, Color] = {
    'white': (250, 250, 250),
    'red': (230, 30, 30)
}
_BG_PALETTE: Tuple[Color, ...] = (
    (120, 170, 220),  # sky
    (170, 200, 230),  # pale sky
    (70, 120, 60),  # foliage
    (110, 150, 80),  # light foliage
    (40, 80, 40),  # dark foliage
    (140, 110, 80),  # bark
    (180, 160, 120),  # sand
    (90, 90, 95),  # rock
    (200, 200, 190),  # overcast
)
_CLUTTER_PALETTE: Tuple[Color, ...] = _BG_PALETTE + (
    (60, 45, 30),  # twig
    (150, 180, 90),  # leaf
    (210, 190, 150),  # dry grass
)
# Distractor blobs reuse the colours the parts are painted in, so "this
# colour is somewhere in the image" is never evidence for a class.
_DISTRACTOR_PALETTE: Tuple[Color, ...] = (
    tuple(CREST_COLORS.values()) + tuple(_EYE_RING_COLORS.values()) +
    (_LIGHT_MARK, _DARK_MARK, _BREAST_MARK))


# ----------------------------------------------------------------------------
# Scene description
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BirdPose:
    """Where the canonical bird goes in the image.

    Args:
        facing (int): ``+1`` facing right (``+x``), ``-1`` facing left.
        angle (float): in-plane rotation in degrees (positive turns ``+x``
            towards ``+y``, i.e. clockwise on screen).
        scale (float): pixels per canonical unit.
        center (tuple[float, float]): image position (continuous pixels) of
            the canonical origin (body centre).
    """

    facing: int
    angle: float
    scale: float
    center: Tuple[float, float]


@dataclass(frozen=True)
class BirdShape:
    """Class-independent body-shape jitter.

    Args:
        body_tilt (float): body axis angle in degrees (negative raises the
            front).
        tail_angle (float): tail angle relative to the body axis, degrees.
        tail_length (float): tail length multiplier.
        head_size (float): head radius multiplier.
        body_aspect (float): body height multiplier.
    """

    body_tilt: float = -18.0
    tail_angle: float = 0.0
    tail_length: float = 1.0
    head_size: float = 1.0
    body_aspect: float = 1.0


@dataclass(frozen=True)
class BirdStyle:
    """Class-independent colours of one bird (RGB).

    Args:
        body (tuple): body/head colour; also the colour ablations paint with.
        wing (tuple): wing colour.
        tail (tuple): tail colour.
        belly (tuple): belly colour.
        beak (tuple): beak colour.
        legs (tuple): leg colour.
    """

    body: Color
    wing: Color
    tail: Color
    belly: Color
    beak: Color
    legs: Color


@dataclass(frozen=True)
class Occluder:
    """A foreground shape drawn over the bird.

    Args:
        polygon (np.ndarray): float ``(N, 2)`` continuous image coordinates.
        color (tuple): RGB colour.
    """

    polygon: np.ndarray
    color: Color


@dataclass(frozen=True)
class BirdScene:
    """Everything random about one image except the class.

    Args:
        image_size (int): square image side in pixels.
        background (np.ndarray): uint8 ``(S, S, 3)`` BGR background.
        pose (BirdPose): bird placement.
        shape (BirdShape): body-shape jitter.
        style (BirdStyle): bird colours.
        part_scale (float): size multiplier of the discriminative marks.
        occluders (tuple[Occluder]): shapes drawn over the bird.
        gain (np.ndarray): float32 ``(3,)`` per-channel (BGR) gain.
        noise (np.ndarray): float32 ``(S, S, 3)`` additive pixel noise.
    """

    image_size: int
    background: np.ndarray
    pose: BirdPose
    shape: BirdShape
    style: BirdStyle
    part_scale: float
    occluders: Tuple[Occluder, ...] = ()
    gain: np.ndarray = field(
        default_factory=lambda: np.ones(3, dtype=np.float32))
    noise: Optional[np.ndarray] = None


@dataclass
class BirdRender:
    """The output of :func:`render_bird`.

    Args:
        image (np.ndarray): uint8 ``(S, S, 3)`` BGR image.
        mask (np.ndarray): uint8 ``(S, S)`` bird mask, 0 or 255 (visible
            bird pixels: occluded pixels are 0).
        parts (np.ndarray): float32 ``(15, 3)`` ``x, y, visible`` in
            :data:`~mmfg.datasets.synth.spec.PART_NAMES` order, continuous
            pixel coordinates; invisible parts are ``(0, 0, 0)``.
        bbox (np.ndarray): float32 ``(4,)`` ``x, y, w, h`` tight box of
            ``mask`` (``x, y`` = top-left corner of the first pixel).
        region_mask (np.ndarray | None): uint8 ``(S, S)``, 255 where a
            discriminative part attribute can change a pixel: the crest,
            the union of all beak shapes, the eye ring, and the union over
            all values of the wing, tail and breast marks (one pixel of
            anti-aliasing margin included).
        part_regions (dict[str, np.ndarray]): per attribute name, the same
            as ``region_mask`` for that attribute alone (bool ``(S, S)``).
        attribute_visible (dict[str, bool]): whether each attribute's part
            keypoint is visible (not occluded).
    """

    image: np.ndarray
    mask: np.ndarray
    parts: np.ndarray
    bbox: np.ndarray
    region_mask: Optional[np.ndarray]
    part_regions: Dict[str, np.ndarray]
    attribute_visible: Dict[str, bool]


def neutral_attributes() -> Dict[str, str]:
    """The first (neutral) value of every part attribute.

    Attributes a difficulty does not vary take these values.
    """
    return {attr.name: attr.values[0] for attr in PART_ATTRIBUTES}


def attributes_from_code(code: Sequence[int]) -> Dict[str, str]:
    """Turn a class code (value index per attribute) into attribute values.

    Args:
        code (Sequence[int]): one value index per entry of
            :data:`~mmfg.datasets.synth.spec.PART_ATTRIBUTES`.

    Returns:
        dict[str, str]: attribute name -> value.
    """
    return {
        attr.name: attr.values[int(i)]
        for attr, i in zip(PART_ATTRIBUTES, code)
    }


# ----------------------------------------------------------------------------
# Polygon helpers (canonical frame)
# ----------------------------------------------------------------------------
def _rot(points: np.ndarray, angle_deg: float) -> np.ndarray:
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    return points @ np.array([[c, s], [-s, c]])


def _ellipse(cx: float,
             cy: float,
             a: float,
             b: float,
             angle: float = 0.0,
             n: int = 36) -> Polygon:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    pts = np.stack([a * np.cos(t), b * np.sin(t)], axis=1)
    return _rot(pts, angle) + (cx, cy)


def _teardrop(cx: float,
              cy: float,
              a: float,
              b: float,
              angle: float,
              n: int = 40) -> Polygon:
    """Ellipse whose ``-x`` end is pinched to a point (a folded wing)."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x = a * np.cos(t)
    y = b * np.sin(t) * (0.5 + 0.5 * (1.0 + np.cos(t)) / 2.0)
    return _rot(np.stack([x, y], axis=1), angle) + (cx, cy)


def _clip_halfplane(poly: Polygon, normal: np.ndarray,
                    offset: float) -> Polygon:
    """Keep the part of ``poly`` where ``normal @ p >= offset``."""
    if len(poly) == 0:
        return poly
    d = poly @ normal - offset
    inside = d >= 0
    if inside.all():
        return poly
    if not inside.any():
        return poly[:0]
    nxt = np.roll(poly, -1, axis=0)
    d_nxt = np.roll(d, -1)
    cross = inside != np.roll(inside, -1)
    denom = np.where(cross, d - d_nxt, 1.0)
    inter = poly + (nxt - poly) * (d / denom)[:, None]
    # Walk the edges: vertex i (if inside), then the crossing on edge i.
    pts = np.stack([poly, inter], axis=1).reshape(-1, 2)
    keep = np.stack([inside, cross], axis=1).reshape(-1)
    return pts[keep]


def _clip_convex(poly: Polygon, clip: Polygon) -> Polygon:
    """Sutherland-Hodgman: ``poly`` intersected with convex ``clip``."""
    # Orientation of the clip polygon decides which side is inside.
    x, y = clip[:, 0], clip[:, 1]
    area2 = np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)
    edge = np.roll(clip, -1, axis=0) - clip
    normals = np.stack([-edge[:, 1], edge[:, 0]], axis=1)
    normals *= 1.0 if area2 > 0 else -1.0
    offsets = (normals * clip).sum(1)
    outside = ((poly @ normals.T) < offsets).any(axis=0)
    out = poly
    for e in np.nonzero(outside)[0]:  # only the edges poly crosses
        out = _clip_halfplane(out, normals[e], float(offsets[e]))
        if len(out) == 0:
            break
    return out


def _band(poly: Polygon, origin: np.ndarray, axis: np.ndarray, lo: float,
          hi: float) -> Polygon:
    """Part of ``poly`` whose coordinate along ``axis`` lies in
    ``[lo, hi]``."""
    off = float(axis @ origin)
    out = _clip_halfplane(poly, axis, off + lo)
    return _clip_halfplane(out, -axis, -(off + hi))


def _unit(angle_deg: float) -> np.ndarray:
    t = math.radians(angle_deg)
    return np.array([math.cos(t), math.sin(t)])


# ----------------------------------------------------------------------------
# The canonical bird
# ----------------------------------------------------------------------------
_BEAK_SHAPES = ATTRIBUTE_BY_NAME['beak'].values


def _beak_polygon(shape: str, ps: float) -> Tuple[Polygon, np.ndarray]:
    """Beak outline in the beak frame (``u`` forward from the base, ``v``
    down) and its keypoint (middle of the beak).

    Args:
        shape (str): beak value.
        ps (float): part scale.
    """
    if shape == 'cone':  # short and deep
        length, width = 0.105 * ps, 0.10 * ps
        pts = [(-0.03, -width / 2), (0.45 * length, -0.36 * width),
               (length, 0.0), (0.45 * length, 0.36 * width),
               (-0.03, width / 2)]
        kp = (0.35 * length, 0.0)
    elif shape == 'needle':  # long, thin, straight
        length, width = 0.24 * ps, 0.042 * ps
        pts = [(-0.03, -width / 2), (length, -0.003), (length, 0.003),
               (-0.03, width / 2)]
        kp = (0.4 * length, 0.0)
    elif shape == 'hooked':  # medium, deep, hooked tip
        length, width = 0.135 * ps, 0.08 * ps
        pts = [(-0.03, -width / 2), (0.6 * length, -0.45 * width),
               (0.9 * length, -0.25 * width), (length, 0.05 * width),
               (0.96 * length, 0.55 * width), (0.8 * length, 0.15 * width),
               (0.5 * length, 0.32 * width), (-0.03, width / 2)]
        kp = (0.4 * length, 0.0)
    elif shape == 'decurved':  # long, thin, curved down
        length, width = 0.22 * ps, 0.05 * ps
        u = np.linspace(0.0, 1.0, 12)
        centre_v = 0.55 * length * u**2
        half = 0.5 * width * (1.0 - 0.85 * u)
        uu = -0.03 + (length + 0.03) * u
        top = np.stack([uu, centre_v - half], axis=1)
        bottom = np.stack([uu, centre_v + half], axis=1)[::-1]
        pts = np.concatenate([top, bottom], axis=0)
        kp = (-0.03 + (length + 0.03) * 0.45, 0.55 * length * 0.45**2)
    else:
        raise ValueError(f'Unknown beak shape {shape!r}; expected one of '
                         f'{_BEAK_SHAPES}.')
    return np.asarray(pts, dtype=np.float64), np.asarray(kp, np.float64)


@dataclass
class _Layers:
    """The canonical bird: drawing layers, keypoints and regions."""

    draw: List[Tuple[str, List[Polygon], Color]]  # (name, polys, RGB)
    keypoints: Dict[str, np.ndarray]
    regions: Dict[str, List[Polygon]]
    silhouette: List[Polygon]  # every variant, for placement extents


def _canonical_bird(attrs: Mapping[str, str],
                    shape: BirdShape,
                    style: BirdStyle,
                    ps: float,
                    ablate: bool = False,
                    with_regions: bool = True) -> _Layers:
    """Build the canonical (facing right) bird.

    Args:
        attrs (Mapping[str, str]): part attribute values.
        shape (BirdShape): body-shape jitter.
        style (BirdStyle): colours.
        ps (float): part scale.
        ablate (bool): paint every discriminative region in the body colour
            instead of drawing the class's marks.
        with_regions (bool): build ``regions`` (the union over all values
            of each attribute's marks); ``regions`` is empty otherwise.
    """
    tilt = shape.body_tilt
    body_axis = _unit(tilt)
    body_up = _unit(tilt - 90.0)  # body frame -v

    def bf(u: float, v: float) -> np.ndarray:
        return u * body_axis - v * body_up

    # --- body, belly, head, neck -------------------------------------------
    a_body, b_body = 0.34, 0.2 * shape.body_aspect
    body = _ellipse(0.0, 0.0, a_body, b_body, tilt, n=44)
    belly = _clip_halfplane(body, -body_up, 0.03)
    r_h = 0.125 * shape.head_size
    head_c = np.array([0.34, -0.25])
    head = _ellipse(head_c[0], head_c[1], r_h, r_h, 0.0, n=32)
    neck = _ellipse(0.25, -0.14, 0.13, 0.105, -50.0, n=28)

    # --- tail and its marks --------------------------------------------------
    tail_dir = -_unit(tilt + shape.tail_angle)  # pointing backwards
    tail_norm = np.array([-tail_dir[1], tail_dir[0]])
    t_len = 0.34 * shape.tail_length
    t_base = bf(-0.29, 0.0)
    tail = np.stack([
        t_base + 0.05 * tail_norm,
        t_base + t_len * tail_dir + 0.075 * tail_norm,
        t_base + t_len * tail_dir - 0.075 * tail_norm,
        t_base - 0.05 * tail_norm
    ])

    def tail_marks(value: str) -> Tuple[List[Polygon], Color]:
        if value == 'plain':
            return [], _LIGHT_MARK
        if value == 'white_tip':
            return [
                _band(tail, t_base, tail_dir, t_len - 0.075 * ps, t_len + 1.0)
            ], _LIGHT_MARK
        if value == 'dark_band':
            lo = 0.5 * t_len
            return [_band(tail, t_base, tail_dir, lo,
                          lo + 0.07 * ps)], _DARK_MARK
        if value == 'spotted':
            spots = []
            for w in (0.42, 0.62, 0.82):
                for side in (-1.0, 1.0):
                    c = t_base + w * t_len * tail_dir + side * 0.032 * (
                        0.8 + 0.4 * w) * tail_norm
                    spot = _ellipse(c[0], c[1], 0.02 * ps, 0.02 * ps, n=14)
                    spots.append(_clip_convex(spot, tail))
            return spots, _LIGHT_MARK
        raise ValueError(f'Unknown tail value {value!r}.')

    # --- wing and its marks --------------------------------------------------
    w_angle = tilt + 6.0
    w_axis = _unit(w_angle)
    w_norm = np.array([-w_axis[1], w_axis[0]])
    w_c = bf(-0.07, -0.035)
    w_a, w_b = 0.28, 0.125
    wing = _teardrop(w_c[0], w_c[1], w_a, w_b, w_angle)

    def wing_marks(value: str) -> Tuple[List[Polygon], Color]:
        if value == 'plain':
            return [], _LIGHT_MARK
        if value == 'single_bar':
            lo = 0.015
            return [_band(wing, w_c, w_axis, lo, lo + 0.075 * ps)], _LIGHT_MARK
        if value == 'double_bar':
            return [
                _band(wing, w_c, w_axis, lo, lo + 0.045 * ps)
                for lo in (0.075, -0.06)
            ], _LIGHT_MARK
        if value == 'spotted':
            spots = []
            for du, dv in ((0.12, -0.05), (0.12, 0.05), (0.02, -0.06),
                           (0.02, 0.06), (-0.08, -0.035), (-0.08, 0.035),
                           (0.07, 0.0), (-0.03, 0.0)):
                c = w_c + du * w_axis + dv * w_norm
                spot = _ellipse(c[0], c[1], 0.022 * ps, 0.022 * ps, n=14)
                spots.append(_clip_convex(spot, wing))
            return spots, _LIGHT_MARK
        if value == 'dark_tip':
            return [_band(wing, w_c, w_axis, -1.0,
                          -w_a + 0.13 + 0.03 * ps)], _DARK_MARK
        raise ValueError(f'Unknown wing value {value!r}.')

    # --- breast and its marks ------------------------------------------------
    breast = _clip_halfplane(body, body_axis, 0.06)
    breast = _clip_halfplane(breast, -body_up, -0.02)

    def breast_marks(value: str) -> Tuple[List[Polygon], Color]:
        if value == 'solid':
            return [], _BREAST_MARK
        marks = []
        if value == 'spotted':
            for u, v in ((0.13, 0.02), (0.2, 0.06), (0.26, 0.01), (0.15, 0.11),
                         (0.23, 0.12), (0.29, 0.07)):
                c = bf(u, v)
                spot = _ellipse(c[0], c[1], 0.017 * ps, 0.017 * ps, n=12)
                marks.append(_clip_convex(spot, breast))
        elif value == 'streaked':
            for u, v in ((0.13, 0.05), (0.2, 0.08), (0.27, 0.04), (0.17, 0.0),
                         (0.24, -0.01)):
                c = bf(u, v)
                streak = _ellipse(
                    c[0], c[1], 0.035 * ps, 0.011 * ps, tilt + 70.0, n=12)
                marks.append(_clip_convex(streak, breast))
        else:
            raise ValueError(f'Unknown breast value {value!r}.')
        return marks, _BREAST_MARK

    # --- crest (crown cap + three swept-back spikes) ------------------------
    crest_normal = np.array([-0.2, -1.0]) / math.hypot(0.2, 1.0)
    cap = _clip_halfplane(head, crest_normal,
                          float(crest_normal @ head_c) + 0.42 * r_h)
    spikes = []
    for ang, length in ((-118.0, 0.12), (-98.0, 0.145), (-78.0, 0.115)):
        base = head_c + 0.8 * r_h * _unit(ang)
        tip_dir = _unit(ang - 38.0)
        side = np.array([-tip_dir[1], tip_dir[0]])
        spikes.append(
            np.stack([
                base + 0.03 * ps * side, base + length * ps * tip_dir,
                base - 0.03 * ps * side
            ]))
    crest = [cap] + spikes

    # --- beak ----------------------------------------------------------------
    beak_base = head_c + 0.97 * r_h * _unit(-4.0)
    beak_dir = _unit(4.0)
    beak_norm = np.array([-beak_dir[1], beak_dir[0]])

    def beak_frame(pts: np.ndarray) -> np.ndarray:
        pts = np.atleast_2d(pts)
        return beak_base + pts[:, :1] * beak_dir + pts[:, 1:2] * beak_norm

    beak_poly, beak_kp = _beak_polygon(attrs['beak'], ps)
    beak = beak_frame(beak_poly)
    beak_variants = [beak_frame(_beak_polygon(b, ps)[0]) for b in _BEAK_SHAPES]

    # --- eye and eye ring ----------------------------------------------------
    eye_c = head_c + r_h * np.array([0.42, -0.14])
    eye = _ellipse(eye_c[0], eye_c[1], 0.026, 0.026, n=16)
    ring_r = 0.026 + 0.03 * ps
    ring = _ellipse(eye_c[0], eye_c[1], ring_r, ring_r, n=20)

    # --- legs (vertical in the bird frame) -----------------------------------
    def leg(top: np.ndarray, length: float) -> Tuple[List[Polygon], float]:
        w = 0.013
        shank = np.array([
            top + (-w, 0.0), top + (w, 0.0), top + (w, length),
            top + (-w, length)
        ])
        foot_y = top[1] + length
        toes = np.array([(top[0] - 0.03, foot_y - w),
                         (top[0] + 0.065, foot_y - w),
                         (top[0] + 0.065, foot_y + w),
                         (top[0] - 0.03, foot_y + w)])
        return [shank, toes], foot_y

    near_top, far_top = bf(0.0, 0.15), bf(0.09, 0.14)
    near_leg, near_foot = leg(near_top, 0.19)
    far_leg, far_foot = leg(far_top, 0.18)
    far_leg_color = tuple(int(c * 0.75) for c in style.legs)

    # --- regions: where any value of an attribute can paint ------------------
    regions: Dict[str, List[Polygon]] = {}
    if with_regions or ablate:
        regions = {
            'crest':
            crest,
            'wing': [
                p for v in ATTRIBUTE_BY_NAME['wing'].values
                for p in wing_marks(v)[0]
            ],
            'beak':
            beak_variants,
            'tail': [
                p for v in ATTRIBUTE_BY_NAME['tail'].values
                for p in tail_marks(v)[0]
            ],
            'eye_ring': [ring],
            'breast': [
                p for v in ATTRIBUTE_BY_NAME['breast'].values
                for p in breast_marks(v)[0]
            ],
        }

    # --- layers (back to front) ----------------------------------------------
    if ablate:
        # The class-independent bird, with every discriminative region
        # painted in the body colour: no pixel ever gets a class colour.
        body_c = style.body
        draw: List[Tuple[str, List[Polygon], Color]] = [
            ('far_leg', far_leg, far_leg_color),
            ('tail', [tail], style.tail),
            ('tail_marks', regions['tail'], body_c),
            ('body', [body, neck], style.body),
            ('belly', [belly], style.belly),
            ('breast_marks', regions['breast'], body_c),
            ('head', [head], style.body),
            ('crest', crest, body_c),
            ('beak', beak_variants, body_c),
            ('eye_ring', [ring], body_c),
            ('eye', [eye], _EYE_COLOR),
            ('wing', [wing], style.wing),
            ('wing_marks', regions['wing'], body_c),
            ('near_leg', near_leg, style.legs),
        ]
    else:
        draw = [
            ('far_leg', far_leg, far_leg_color),
            ('tail', [tail], style.tail),
            ('tail_marks', ) + tail_marks(attrs['tail']),
            ('body', [body, neck], style.body),
            ('belly', [belly], style.belly),
            ('breast_marks', ) + breast_marks(attrs['breast']),
            ('head', [head], style.body),
            ('crest', crest, CREST_COLORS[attrs['crest']]),
            ('beak', [beak], style.beak),
        ]
        if attrs['eye_ring'] != 'none':
            draw.append(
                ('eye_ring', [ring], _EYE_RING_COLORS[attrs['eye_ring']]))
        draw += [
            ('eye', [eye], _EYE_COLOR),
            ('wing', [wing], style.wing),
            ('wing_marks', ) + wing_marks(attrs['wing']),
            ('near_leg', near_leg, style.legs),
        ]

    keypoints = {
        'back': bf(0.1, -0.155),
        'beak': beak_frame(beak_kp)[0],
        'belly': bf(-0.04, 0.13),
        'breast': bf(0.2, 0.06),
        'crown': head_c + 0.72 * r_h * _unit(-100.0),
        'forehead': head_c + 0.8 * r_h * _unit(-38.0),
        'near eye': eye_c,
        'near leg': np.array([near_top[0], near_foot - 0.04]),
        'far leg': np.array([far_top[0], far_foot - 0.04]),
        'near wing': w_c + 0.02 * w_axis,
        'nape': head_c + 0.85 * r_h * _unit(195.0),
        'tail': t_base + 0.62 * t_len * tail_dir,
        'throat': head_c + 0.82 * r_h * _unit(62.0),
    }
    silhouette = [body, neck, head, tail, wing, ring] + crest + \
        beak_variants + near_leg + far_leg
    return _Layers(draw, keypoints, regions, silhouette)


# ----------------------------------------------------------------------------
# Pose -> image
# ----------------------------------------------------------------------------
def _pose_matrix(pose: BirdPose) -> np.ndarray:
    """2x3 affine from the canonical frame to continuous image pixels."""
    t = math.radians(pose.angle)
    c, s = math.cos(t), math.sin(t)
    rot = np.array([[c, -s], [s, c]]) * pose.scale
    lin = rot @ np.diag([float(pose.facing), 1.0])
    return np.concatenate([lin, np.asarray(pose.center).reshape(2, 1)], 1)


def _apply(mat: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ mat[:, :2].T + mat[:, 2]


def _to_cv(polys: Sequence[Polygon]) -> List[np.ndarray]:
    """Continuous pixel polygons -> cv2 fixed-point int32 contours."""
    return [
        np.round((p - 0.5) * _SCALE).astype(np.int32).reshape(-1, 1, 2)
        for p in polys if len(p) >= 3
    ]


def _bgr(color: Color) -> Tuple[int, int, int]:
    return (int(color[2]), int(color[1]), int(color[0]))


def _fill(img: np.ndarray,
          polys: Sequence[Polygon],
          color,
          antialias: bool = True) -> None:
    # One call per polygon: cv2.fillPoly given several overlapping contours
    # leaves their overlap unfilled (even-odd rule).
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    for contour in _to_cv(polys):
        cv2.fillPoly(img, [contour], color, line, _SHIFT)


def _region(size: int, polys: Sequence[Polygon]) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    # Anti-aliased, so every pixel the drawing touches at all is counted,
    # plus one pixel of margin.
    _fill(m, polys, 255, antialias=True)
    return cv2.dilate(m, np.ones((3, 3), np.uint8)) > 0


# ----------------------------------------------------------------------------
# Public rendering API
# ----------------------------------------------------------------------------
def render_bird(attributes: Mapping[str, str],
                scene: BirdScene,
                ablate_parts: bool = False,
                with_regions: bool = True) -> BirdRender:
    """Render one bird with explicit part attributes into a scene.

    Deterministic: no random numbers are drawn here, so rendering the same
    ``scene`` with different ``attributes`` changes only the pixels inside
    the returned ``region_mask``.

    Args:
        attributes (Mapping[str, str]): attribute name -> value for every
            entry of :data:`~mmfg.datasets.synth.spec.PART_ATTRIBUTES`
            (see :func:`attributes_from_code`).
        scene (BirdScene): background, pose, colours, occluders, noise
            (see :func:`sample_scene`).
        ablate_parts (bool): instead of the class's parts, paint every
            discriminative region (see ``region_mask``: crest, all beak
            shapes, eye ring, all wing/tail/breast marks) in the body
            colour. No class colour is ever drawn, so the image carries no
            class evidence and is identical for every class. Defaults to
            False.
        with_regions (bool): compute ``region_mask`` and ``part_regions``
            (the dataset generator skips them: they cost more than the
            image). When False they are None and ``{}``. Defaults to True.

    Returns:
        BirdRender: image, mask, 15 part keypoints, box and part regions.
    """
    for attr in PART_ATTRIBUTES:
        if attributes.get(attr.name) not in attr.values:
            raise ValueError(
                f'render_bird: attribute {attr.name!r} must be one of '
                f'{attr.values}, got {attributes.get(attr.name)!r}.')
    size = scene.image_size
    layers = _canonical_bird(attributes, scene.shape, scene.style,
                             scene.part_scale, ablate_parts, with_regions)
    mat = _pose_matrix(scene.pose)
    img = scene.background.copy()
    mask = np.zeros((size, size), np.uint8)
    for name, polys, color in layers.draw:
        img_polys = [_apply(mat, p) for p in polys]
        _fill(img, img_polys, _bgr(color))
        _fill(mask, img_polys, 255, antialias=False)

    part_regions: Dict[str, np.ndarray] = {}
    region_mask: Optional[np.ndarray] = None
    if with_regions:
        part_regions = {
            name: _region(size, [_apply(mat, p) for p in polys])
            for name, polys in layers.regions.items()
        }
        union = np.zeros((size, size), bool)
        for reg in part_regions.values():
            union |= reg
        region_mask = union.astype(np.uint8) * 255
    occ = np.zeros((size, size), np.uint8)
    for o in scene.occluders:
        _fill(img, [o.polygon], _bgr(o.color))
        _fill(occ, [o.polygon], 255, antialias=False)
    mask[occ > 0] = 0

    out = img.astype(np.float32) * scene.gain
    if scene.noise is not None:
        out += scene.noise
    image = np.clip(np.rint(out), 0, 255).astype(np.uint8)

    # Keypoints: near side = the bird's right when it faces right.
    near, far = ('right', 'left') if scene.pose.facing > 0 else ('left',
                                                                 'right')
    kp_canon = dict(layers.keypoints)
    named = {
        'back': kp_canon['back'],
        'beak': kp_canon['beak'],
        'belly': kp_canon['belly'],
        'breast': kp_canon['breast'],
        'crown': kp_canon['crown'],
        'forehead': kp_canon['forehead'],
        'nape': kp_canon['nape'],
        'tail': kp_canon['tail'],
        'throat': kp_canon['throat'],
        f'{near} eye': kp_canon['near eye'],
        f'{near} wing': kp_canon['near wing'],
        f'{near} leg': kp_canon['near leg'],
        f'{far} leg': kp_canon['far leg'],
    }
    parts = np.zeros((len(PART_NAMES), 3), np.float32)
    for i, pname in enumerate(PART_NAMES):
        if pname not in named:
            continue  # the far eye and far wing are hidden by the body
        x, y = _apply(mat, named[pname][None])[0]
        # Occlusion is decided geometrically (exact, mirror-symmetric),
        # not on the rasterised occluder.
        hidden = any(
            cv2.pointPolygonTest(
                o.polygon.astype(np.float32).reshape(-1, 1, 2), (
                    float(x), float(y)), False) >= 0 for o in scene.occluders)
        if 0 <= x < size and 0 <= y < size and not hidden:
            parts[i] = (x, y, 1.0)

    ys, xs = np.nonzero(mask)
    if len(xs):
        bbox = np.array([
            xs.min(),
            ys.min(),
            xs.max() + 1 - xs.min(),
            ys.max() + 1 - ys.min()
        ], np.float32)
    else:  # fully occluded (never produced by sample_scene)
        bbox = np.zeros(4, np.float32)

    part_of_attr = {
        'crest': 'crown',
        'wing': f'{near} wing',
        'beak': 'beak',
        'tail': 'tail',
        'eye_ring': f'{near} eye',
        'breast': 'breast'
    }
    visible = {
        name: bool(parts[PART_NAMES.index(p), 2] > 0)
        for name, p in part_of_attr.items()
    }
    return BirdRender(image, mask, parts, bbox, region_mask, part_regions,
                      visible)


# ----------------------------------------------------------------------------
# Scene sampling
# ----------------------------------------------------------------------------
def _jitter_color(rng: np.random.Generator, color: Color,
                  amount: float) -> Color:
    c = np.asarray(color, np.float64) + rng.uniform(-amount, amount, 3)
    return tuple(int(v) for v in np.clip(np.rint(c), 0, 255))


def _scaled(color: Color, factor: float, toward: float = 0.0) -> Color:
    c = np.asarray(color, np.float64)
    c = c * factor + toward * (1.0 - factor)
    return tuple(int(v) for v in np.clip(np.rint(c), 0, 255))


def _random_polygon(rng: np.random.Generator, center: np.ndarray,
                    radius: float, kind: int) -> Polygon:
    if kind == 0:  # ellipse
        return _ellipse(center[0], center[1], radius,
                        radius * rng.uniform(0.3, 1.0),
                        rng.uniform(0.0, 180.0))
    if kind == 1:  # rotated rectangle
        w, h = radius, radius * rng.uniform(0.15, 0.8)
        pts = np.array([(-w, -h), (w, -h), (w, h), (-w, h)])
        return _rot(pts, rng.uniform(0.0, 180.0)) + center
    if kind == 2:  # irregular blob
        n = 9
        t = np.sort(rng.uniform(0.0, 2 * np.pi, n))
        r = radius * rng.uniform(0.5, 1.0, n)
        return np.stack([r * np.cos(t), r * np.sin(t)], 1) + center
    # spiky tuft (looks like a crest)
    n = int(rng.integers(3, 6))
    base = rng.uniform(0.0, 360.0)
    pts = []
    for k in range(n):
        a0 = math.radians(base + k * 360.0 / n)
        a1 = math.radians(base + (k + 0.5) * 360.0 / n)
        pts.append(center + 0.35 * radius *
                   np.array([math.cos(a0), math.sin(a0)]))
        pts.append(center + radius * np.array([math.cos(a1), math.sin(a1)]))
    return np.asarray(pts)


def _background(rng: np.random.Generator, size: int,
                cfg: DifficultyConfig) -> np.ndarray:
    """Gradient + low-frequency texture + clutter + distractor blobs."""
    c0 = np.asarray(
        _jitter_color(rng, _BG_PALETTE[rng.integers(len(_BG_PALETTE))], 25),
        np.float32)
    c1 = np.asarray(
        _jitter_color(rng, _BG_PALETTE[rng.integers(len(_BG_PALETTE))], 25),
        np.float32)
    theta = rng.uniform(0.0, 2 * np.pi)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    t = (coords[None, :] * math.cos(theta) +
         coords[:, None] * math.sin(theta)) / 1.42 + 0.5
    bg = c0 + (c1 - c0) * t[..., None]
    k = int(rng.integers(3, 7))
    low = rng.normal(0.0, 1.0, (k, k, 3)).astype(np.float32)
    bg += cfg.texture_strength * cv2.resize(
        low, (size, size), interpolation=cv2.INTER_CUBIC)
    fine_k = max(4, size // int(rng.integers(4, 9)))
    fine = rng.normal(0.0, 1.0, (fine_k, fine_k, 1)).astype(np.float32)
    bg += 0.5 * cfg.texture_strength * cv2.resize(
        fine, (size, size), interpolation=cv2.INTER_LINEAR)[..., None]
    img = np.clip(np.rint(bg[..., ::-1]), 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)

    n_clutter = int(rng.integers(cfg.num_clutter[0], cfg.num_clutter[1] + 1))
    for _ in range(n_clutter):
        color = _jitter_color(
            rng, _CLUTTER_PALETTE[rng.integers(len(_CLUTTER_PALETTE))], 20)
        kind = int(rng.integers(0, 4))
        center = rng.uniform(0.0, size, 2)
        if kind == 3:  # twig: a thick polyline
            pts = [center]
            ang = rng.uniform(0.0, 2 * np.pi)
            for _ in range(int(rng.integers(2, 5))):
                ang += rng.normal(0.0, 0.5)
                step = rng.uniform(0.1, 0.35) * size
                pts.append(
                    pts[-1] + step *
                    np.array([math.cos(ang), math.sin(ang)]))
            thick = max(1, int(round(rng.uniform(0.01, 0.035) * size)))
            cv2.polylines(img, _to_cv([np.asarray(pts)]), False, _bgr(color),
                          thick, cv2.LINE_AA, _SHIFT)
            continue
        poly = _random_polygon(rng, center,
                               rng.uniform(0.06, 0.3) * size, kind)
        alpha = float(rng.uniform(0.5, 1.0))
        layer = img.copy()
        _fill(layer, [poly], _bgr(color))
        img = cv2.addWeighted(layer, alpha, img, 1.0 - alpha, 0.0)

    n_dis = int(
        rng.integers(cfg.num_distractors[0], cfg.num_distractors[1] + 1))
    for _ in range(n_dis):
        color = _DISTRACTOR_PALETTE[rng.integers(len(_DISTRACTOR_PALETTE))]
        center = rng.uniform(0.05 * size, 0.95 * size, 2)
        poly = _random_polygon(
            rng, center,
            rng.uniform(0.025, 0.07) * size,
            int(rng.integers(0, 4)) if rng.random() < 0.5 else 3)
        _fill(img, [poly], _bgr(color))
    return img


def sample_scene(rng: np.random.Generator,
                 image_size: int,
                 difficulty: str = 'easy') -> BirdScene:
    """Draw everything class-independent about one image.

    Args:
        rng (np.random.Generator): the image's generator (SynthBirds uses
            ``np.random.default_rng([seed, image_id])``).
        image_size (int): square image side in pixels (>= 32).
        difficulty (str): a key of
            :data:`~mmfg.datasets.synth.spec.DIFFICULTIES`.

    Returns:
        BirdScene: background, pose, shape, colours, occluders and noise.
    """
    cfg = get_difficulty(difficulty)
    size = int(image_size)
    if size < 32:
        raise ValueError(f'SynthBirds image_size must be >= 32, got {size}.')
    background = _background(rng, size, cfg)

    shape = BirdShape(
        body_tilt=float(rng.uniform(-24.0, -12.0)),
        tail_angle=float(rng.uniform(-10.0, 10.0)),
        tail_length=float(rng.uniform(0.88, 1.12)),
        head_size=float(rng.uniform(0.93, 1.07)),
        body_aspect=float(rng.uniform(0.9, 1.1)))
    base = _BODY_PALETTE[rng.integers(len(_BODY_PALETTE))]
    body = _jitter_color(rng, _scaled(base, float(rng.uniform(0.85, 1.15))),
                         12)
    style = BirdStyle(
        body=body,
        wing=_scaled(body, float(rng.uniform(0.68, 0.8))),
        tail=_scaled(body, float(rng.uniform(0.6, 0.75))),
        belly=_scaled(body, float(rng.uniform(0.45, 0.6)), toward=235.0),
        beak=_jitter_color(rng,
                           _BEAK_PALETTE[rng.integers(len(_BEAK_PALETTE))],
                           10),
        legs=_jitter_color(rng, _LEG_COLOR, 10))

    # Pose: placement extents use every beak variant, so they do not depend
    # on the class.
    facing = 1 if rng.random() < 0.5 else -1
    angle = float(rng.uniform(-cfg.max_rotation, cfg.max_rotation))
    layers = _canonical_bird(
        neutral_attributes(), shape, style, cfg.part_scale, with_regions=False)
    canon = np.concatenate(layers.silhouette, axis=0)
    length = float(canon[:, 0].max() - canon[:, 0].min())
    frac = float(rng.uniform(*cfg.bird_length))
    scale = frac * size / length
    margin = 1.0 + 0.02 * size
    probe = _pose_matrix(BirdPose(facing, angle, 1.0, (0.0, 0.0)))
    ext = _apply(probe, canon)
    lo, hi = ext.min(0), ext.max(0)
    fit = (size - 2 * margin) / float((hi - lo).max())
    scale = min(scale, fit)
    lo, hi = lo * scale, hi * scale
    # When the bird is scaled to fit, the free range is 0 up to rounding
    # (it could come out as -1e-15): clamp so the draw stays valid.
    low = margin - lo
    high = np.maximum(size - margin - hi, low)
    cx = float(rng.uniform(low[0], high[0]))
    cy = float(rng.uniform(low[1], high[1]))
    pose = BirdPose(facing, angle, float(scale), (cx, cy))

    occluders = []
    if rng.random() < cfg.occluder_prob:
        n_occ = int(rng.integers(1, 3))
        box_lo = np.array([cx, cy]) + lo
        box_hi = np.array([cx, cy]) + hi
        for _ in range(n_occ):
            center = rng.uniform(box_lo, box_hi)
            radius = float(rng.uniform(0.12, 0.25)) * float((hi - lo).max())
            poly = _random_polygon(rng, center, radius,
                                   int(rng.integers(0, 3)))
            # Leaves, twigs, bark... (the palette without the two skies).
            color = _jitter_color(
                rng, _CLUTTER_PALETTE[rng.integers(2, len(_CLUTTER_PALETTE))],
                15)
            occluders.append(Occluder(poly, color))

    gain = (1.0 + rng.uniform(-cfg.color_jitter, cfg.color_jitter, 3)) \
        .astype(np.float32)
    noise = rng.standard_normal((size, size, 3), dtype=np.float32)
    noise *= np.float32(cfg.noise_std)
    return BirdScene(size, background, pose, shape, style, cfg.part_scale,
                     tuple(occluders), gain, noise)


def mirror_scene(scene: BirdScene) -> BirdScene:
    """The horizontal mirror image of a scene.

    Rendering the mirrored scene gives (up to anti-aliasing) the mirrored
    image; its keypoints are the mirrored keypoints with left and right
    swapped.

    Args:
        scene (BirdScene): a scene.

    Returns:
        BirdScene: the mirrored scene.
    """
    size = scene.image_size
    pose = scene.pose
    mirrored_pose = BirdPose(-pose.facing, -pose.angle, pose.scale,
                             (size - pose.center[0], pose.center[1]))
    occluders = tuple(
        Occluder(
            np.stack([size - o.polygon[:, 0], o.polygon[:, 1]], 1), o.color)
        for o in scene.occluders)
    noise = None if scene.noise is None else np.ascontiguousarray(
        scene.noise[:, ::-1])
    return replace(
        scene,
        background=np.ascontiguousarray(scene.background[:, ::-1]),
        pose=mirrored_pose,
        occluders=occluders,
        noise=noise)

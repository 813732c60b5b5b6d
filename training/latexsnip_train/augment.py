"""Make clean pdflatex renders look like real screen snips of formulas.

Users snip formulas from PDF viewers, web pages, notebooks and dark IDE themes: at screen
resolution, carelessly cropped, often JPEG'd. ``augment`` turns one clean render (mode "L", black
ink on white, tight crop, known dpi) into such a snip. The inference pre-processing
(``latexsnip.preprocess.prepare``) runs afterwards, so this module produces realistic *inputs*
(colours, margins, neighbouring text), not normalised ones.

Pipeline (each step drawn with a probability from ``AugmentConfig``, scaled by ``strength``):
1. ink weight at render resolution (bold);
2. screen rasterisation: downscale to a random screen dpi with a random filter and sub-pixel
   phase, sometimes in two steps (the most important part: it sets the glyph pixel structure);
3. framing: careless cut into the ink, asymmetric padding, fragments of neighbouring text;
4. theme: light/paper/sepia, dark editor greys, coloured text or background, gradient/texture;
   composed from the ink alpha so the anti-aliasing is kept; colour fringing, UI border line;
5. degradations: blur (on the coverage), noise, gamma/contrast, small rotation, JPEG round trip.
Everything is drawn from the caller's ``rng``, so a given generator state gives identical bytes.
"""

from __future__ import annotations

import functools
import io
import math
import string
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

_FILTERS = (
    Image.Resampling.BOX,
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
    Image.Resampling.HAMMING,
)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
INK_LEVEL = 0.3  # alpha above this counts as ink (matches preprocess.INK_THRESHOLD)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of every augmentation step (at ``strength`` = 1)."""

    # Rasterisation
    screen_dpi: tuple[float, float] = (72.0, 170.0)  # log-uniform target resolution
    p_double_resample: float = 0.25
    intermediate_factor: tuple[float, float] = (1.3, 2.5)  # first step's size vs the final one
    # Ink weight
    # Thicker strokes: im2latex-100k's images carry 1.7× the ink of a plain pdflatex render of
    # the same formula (strokes 1 px thicker at their 200 dpi; training/RUNS.md, cpu-small-24).
    p_bold: float = 0.3
    bold_px: tuple[int, ...] = (1, 1, 2)  # render pixels added, drawn uniformly
    p_ink_gamma: float = 0.2  # alpha**g: g < 1 heavier anti-aliasing, g > 1 thinner ink
    ink_gamma: tuple[float, float] = (0.6, 1.6)
    # Themes (the rest is plain light: white, off-white, paper, sepia)
    p_dark: float = 0.18
    p_colour: float = 0.14
    p_bg_gradient: float = 0.1
    p_bg_texture: float = 0.08
    # Framing
    max_pad: int = 40  # px each side, at screen resolution
    p_tight: float = 0.2  # per side: the snip hugs the ink (0-2 px)
    p_cut: float = 0.04  # one side cuts into the ink
    max_cut_px: int = 3
    p_neighbours: float = 0.15  # fragments of neighbouring text at the border
    p_border_line: float = 0.05  # thin UI frame line on one edge
    # Degradations
    p_fringe: float = 0.07  # sub-pixel (ClearType-like) colour fringes
    p_rotate: float = 0.06
    max_rotation_deg: float = 1.5
    max_rotation_drift_px: float = 3.0  # long formulas rotate less: baseline drift ≤ this
    p_blur: float = 0.15
    blur_sigma: tuple[float, float] = (0.3, 0.8)  # px at blur_reference_dpi or above
    # Below this screen dpi, sigma shrinks with the glyphs: σ 0.8 on 4-px glyphs (72 dpi) left
    # formulas unreadable, which is noise, not robustness.
    blur_reference_dpi: float = 144.0
    p_tone: float = 0.2  # gamma / contrast change
    gamma: tuple[float, float] = (0.75, 1.3)
    min_contrast: float = 0.75
    p_noise: float = 0.12
    noise_sigma: tuple[float, float] = (0.005, 0.04)
    p_salt: float = 0.03
    p_jpeg: float = 0.35
    jpeg_quality: tuple[int, int] = (30, 95)
    p_rgba: float = 0.03  # transparent-background PNG (ink colour + alpha)


DEFAULT_CONFIG = AugmentConfig()


@dataclass(frozen=True)
class _Theme:
    bg: np.ndarray  # (3,) float32 in [0, 1]
    ink: np.ndarray  # (3,)
    dark: bool


def augment(
    render: Image.Image,
    rng: np.random.Generator,
    *,
    dpi: float,
    strength: float = 1.0,
    cfg: AugmentConfig = DEFAULT_CONFIG,
) -> Image.Image:
    """One realistic screen snip (RGB, rarely RGBA) of a clean ``render`` made at ``dpi``.

    ``strength`` scales every probability and magnitude; 0 leaves only the resolution change.
    """
    s = max(0.0, float(strength))
    gray = render.convert("L")
    if _chance(rng, cfg.p_bold, s):
        gray = _embolden(gray, int(rng.choice(cfg.bold_px)))
    screen_dpi = _log_uniform(rng, *cfg.screen_dpi)
    alpha = _rasterise(gray, rng, cfg, scale=screen_dpi / dpi, s=s)
    if s == 0.0:
        return Image.fromarray(_to_u8(1.0 - alpha)).convert("RGB")
    if _chance(rng, cfg.p_ink_gamma, s):
        alpha = alpha ** _log_uniform(rng, *_shrink(cfg.ink_gamma, 1.0, s))
    theme = _theme(rng, cfg, s)
    if _chance(rng, cfg.p_rgba, s):  # exported, not snipped: margins but no neighbours
        pads = [_side_pad(rng, cfg, s) for _ in range(4)]
        return _rgba(np.pad(alpha, ((pads[0], pads[1]), (pads[2], pads[3]))), theme)
    alpha, extra, border_side = _frame(alpha, rng, cfg, s, font_px=screen_dpi / 72 * 10)
    if _chance(rng, cfg.p_blur, s):  # on the coverage: same as blurring a flat-background image
        sigma = _blur_sigma(rng, cfg, s, screen_dpi)
        alpha = _blur(alpha, sigma)
        extra = None if extra is None else _blur(extra, sigma)
    img = _compose(alpha, extra, theme, rng, cfg, s)
    if border_side is not None:
        _border_line(img, border_side, theme, rng)
    return _degrade(img, theme, rng, cfg, s)


# -- helpers for drawing ----------------------------------------------------------------------


def _embolden(gray: Image.Image, px: int = 1) -> Image.Image:
    """Thicken strokes by ``px`` render pixels right and down (repeated cheap 2×2 min filters)."""
    for _ in range(px):
        right = ImageChops.offset(gray, 1, 0)  # wraps around, but the render's margin is white
        gray = ImageChops.darker(gray, right)
        gray = ImageChops.darker(gray, ImageChops.offset(gray, 0, 1))
    return gray


def _chance(rng: np.random.Generator, p: float, s: float) -> bool:
    return bool(rng.random() < min(1.0, p * s))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _shrink(rng_range: tuple[float, float], neutral: float, s: float) -> tuple[float, float]:
    """A range pulled towards ``neutral`` for strength < 1 (magnitudes scale with strength)."""
    k = min(1.0, s)
    lo, hi = rng_range
    return neutral + (lo - neutral) * k, neutral + (hi - neutral) * k


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# -- 2. rasterisation ---------------------------------------------------------------------------


def _rasterise(
    gray: Image.Image, rng: np.random.Generator, cfg: AugmentConfig, *, scale: float, s: float
) -> np.ndarray:
    """Ink alpha (float32, ink = 1) at screen resolution."""
    ink = ImageChops.invert(gray)  # ink = bright, so padding and borders read as no ink
    w, h = ink.size
    out_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if _chance(rng, cfg.p_double_resample, s):
        f = rng.uniform(*cfg.intermediate_factor)
        mid = (max(1, round(out_size[0] * f)), max(1, round(out_size[1] * f)))
        if mid[0] < w:  # only a real intermediate step when it is still a downscale
            ink = ink.resize(mid, _FILTERS[rng.integers(len(_FILTERS))])
    # Random sub-pixel phase: where the glyph edges fall within screen pixels varies per snip.
    # PIL needs the box inside the image, hence a blank border to shift into.
    w, h = ink.size
    sx, sy = w / out_size[0], h / out_size[1]
    border = math.ceil(max(sx, sy))
    ox = border + rng.uniform(-0.5, 0.5) * sx
    oy = border + rng.uniform(-0.5, 0.5) * sy
    ink = ImageOps.expand(ink, border=border, fill=0)
    small = ink.resize(out_size, _FILTERS[rng.integers(len(_FILTERS))], box=(ox, oy, ox + w, oy + h))
    return np.asarray(small, dtype=np.float32) / 255.0


# -- 4. themes ----------------------------------------------------------------------------------

_LIGHT_BG = ((1.0, 1.0, 1.0), (0.98, 0.98, 0.98), (0.96, 0.96, 0.95), (0.99, 0.96, 0.89),
             (1.0, 1.0, 0.94), (0.96, 0.93, 0.85))  # white, off-white, grey, solarized, paper, sepia
_LIGHT_INK = ((0.0, 0.0, 0.0), (0.13, 0.13, 0.13), (0.2, 0.2, 0.2), (0.3, 0.3, 0.3),
              (0.36, 0.27, 0.21))  # black, near-black greys, sepia brown
_DARK_BG = ((0.118, 0.118, 0.118), (0.145, 0.145, 0.149), (0.169, 0.169, 0.169),
            (0.157, 0.173, 0.204), (0.051, 0.067, 0.09), (0.07, 0.07, 0.07))
_DARK_INK = ((0.83, 0.83, 0.83), (0.88, 0.88, 0.88), (1.0, 1.0, 1.0), (0.67, 0.7, 0.75),
             (0.79, 0.82, 0.85), (0.61, 0.86, 1.0), (0.81, 0.57, 0.47), (0.71, 0.81, 0.66))
_COLOUR_INK = ((0.02, 0.27, 0.68), (0.1, 0.05, 0.67), (0.8, 0.0, 0.0), (0.0, 0.5, 0.0),
               (0.5, 0.0, 0.5))  # links, red, green, purple
_TINT_BG = ((0.91, 0.94, 1.0), (1.0, 0.97, 0.77), (0.91, 0.97, 0.91), (0.95, 0.95, 0.97))


def _pick(rng: np.random.Generator, table: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    return np.array(table[rng.integers(len(table))], dtype=np.float32)


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(colour + rng.normal(0.0, amount, 3).astype(np.float32), 0.0, 1.0)


def _theme(rng: np.random.Generator, cfg: AugmentConfig, s: float) -> _Theme:
    u = rng.random()
    if u < min(1.0, cfg.p_dark * s):
        bg, ink, dark = _pick(rng, _DARK_BG), _pick(rng, _DARK_INK), True
    elif u < min(1.0, (cfg.p_dark + cfg.p_colour) * s):
        if rng.random() < 0.6:
            bg, ink = _pick(rng, _LIGHT_BG[:3]), _pick(rng, _COLOUR_INK)
        else:
            bg, ink = _pick(rng, _TINT_BG), _pick(rng, _LIGHT_INK[:3])
        dark = False
    elif rng.random() < 0.5:  # plain black on white is still the most common snip
        bg, ink, dark = np.ones(3, np.float32), np.zeros(3, np.float32), False
    else:
        bg, ink, dark = _pick(rng, _LIGHT_BG), _pick(rng, _LIGHT_INK), False
    return _Theme(_jitter(rng, bg, 0.01 * s), _jitter(rng, ink, 0.02 * s), dark)


def _rgba(alpha: np.ndarray, theme: _Theme) -> Image.Image:
    """Transparent export: constant ink colour, coverage in the alpha channel."""
    h, w = alpha.shape
    out = np.empty((h, w, 4), dtype=np.uint8)
    out[..., :3] = _to_u8(theme.ink)
    out[..., 3] = _to_u8(alpha)
    return Image.fromarray(out, "RGBA")


def _background(
    shape: tuple[int, int], theme: _Theme, rng: np.random.Generator, cfg: AugmentConfig, s: float
) -> Image.Image:
    h, w = shape
    gradient, texture = _chance(rng, cfg.p_bg_gradient, s), _chance(rng, cfg.p_bg_texture, s)
    if not (gradient or texture):
        return Image.new("RGB", (w, h), _rgb8(theme.bg))
    bg = np.broadcast_to(theme.bg, (h, w, 3))
    if gradient:  # e.g. a highlighted cell or a slide background
        horizontal = rng.random() < 0.5
        ramp = np.linspace(0.0, 1.0, w if horizontal else h, dtype=np.float32)
        ramp = ramp[None, :, None] if horizontal else ramp[:, None, None]
        bg = bg + ramp * rng.normal(0.0, 0.05, 3).astype(np.float32)
    if texture:  # low-frequency paper/scan texture
        coarse = rng.normal(0.0, 1.0, (max(2, h // 6), max(2, w // 6))).astype(np.float32)
        smooth = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BILINEAR))
        bg = bg + smooth[..., None] * np.float32(rng.uniform(0.005, 0.02))
    return Image.fromarray(_to_u8(bg), "RGB")


def _rgb8(colour: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in _to_u8(colour))
    return r, g, b


def _mask(alpha: np.ndarray) -> Image.Image:
    return Image.fromarray(_to_u8(alpha), "L")


def _compose(
    alpha: np.ndarray,
    extra: np.ndarray | None,
    theme: _Theme,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    s: float,
) -> Image.Image:
    """Background, then neighbouring-text fragments, then the formula ink (8-bit, like screens)."""
    img = _background(alpha.shape, theme, rng, cfg, s)
    if extra is not None:
        # Neighbouring text: same ink or a greyer variant (captions, faded UI text).
        colour = theme.ink + (theme.bg - theme.ink) * np.float32(rng.uniform(0.0, 0.5))
        img = Image.composite(Image.new("RGB", img.size, _rgb8(colour)), img, _mask(extra))
    if not _chance(rng, cfg.p_fringe, s):
        return Image.composite(Image.new("RGB", img.size, _rgb8(theme.ink)), img, _mask(alpha))
    a3 = _fringed_alpha(alpha, float(rng.uniform(0.3, 0.7)))
    rgb = np.asarray(img, dtype=np.float32) / 255.0
    return Image.fromarray(_to_u8(rgb + (theme.ink - rgb) * a3), "RGB")


def _fringed_alpha(alpha: np.ndarray, weight: float) -> np.ndarray:
    """Per-channel coverage with R and B shifted one pixel apart, like sub-pixel font rendering."""
    right = np.zeros_like(alpha)
    right[:, 1:] = alpha[:, :-1]
    left = np.zeros_like(alpha)
    left[:, :-1] = alpha[:, 1:]
    r = alpha * (1.0 - weight) + right * weight
    b = alpha * (1.0 - weight) + left * weight
    return np.stack([r, alpha, b], axis=-1)


def _border_line(img: Image.Image, side: int, theme: _Theme, rng: np.random.Generator) -> None:
    """A 1 px window/cell frame along one edge (grey, a little off the background)."""
    grey = int(255 * (rng.uniform(0.25, 0.45) if theme.dark else rng.uniform(0.55, 0.85)))
    w, h = img.size
    ends = (((0, 0), (w, 0)), ((0, h - 1), (w, h - 1)), ((0, 0), (0, h)), ((w - 1, 0), (w - 1, h)))
    ImageDraw.Draw(img).line(ends[side], fill=(grey, grey, grey), width=1)


# -- 3. framing ---------------------------------------------------------------------------------


def _frame(
    alpha: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, s: float, *, font_px: float
) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """Cut/pad the ink alpha; return it, the neighbouring-text layer and a border-line side.

    Sides are numbered top, bottom, left, right.
    """
    cut_side = None
    if _chance(rng, cfg.p_cut, s):
        cut_side = int(rng.integers(4))
        alpha = _cut_into_ink(alpha, cut_side, int(rng.integers(1, cfg.max_cut_px + 1)))
    pads = [_side_pad(rng, cfg, s) for _ in range(4)]
    neighbour = None
    if _chance(rng, cfg.p_neighbours, s):
        # Neighbouring lines above/below are more common than text left/right of the formula.
        side = int(rng.choice(4, p=[0.35, 0.35, 0.1, 0.2]))
        if side != cut_side:
            neighbour = _neighbour_strip(rng, side, font_px, alpha.shape)
            gap = int(rng.integers(3, 10))  # keeps it separable from the formula
            extent = neighbour.shape[0] if side < 2 else neighbour.shape[1]
            pads[side] = max(pads[side], gap + extent)
    border = None
    if _chance(rng, cfg.p_border_line, s):
        border = int(rng.integers(4))
        pads[border] = max(pads[border], int(rng.integers(2, 8)))
    if cut_side is not None:
        pads[cut_side] = 0
    top, bottom, left, right = pads
    alpha = np.pad(alpha, ((top, bottom), (left, right)))
    if neighbour is None:
        return alpha, None, border
    return alpha, _place(neighbour, side, alpha.shape, rng), border


def _side_pad(rng: np.random.Generator, cfg: AugmentConfig, s: float) -> int:
    if rng.random() < cfg.p_tight:
        return int(rng.integers(0, 3))
    # Skewed towards small margins: most snips are cropped roughly, few very loosely.
    return int(cfg.max_pad * min(1.0, s) * rng.random() ** 2)


def _cut_into_ink(alpha: np.ndarray, side: int, cut: int) -> np.ndarray:
    """Crop ``cut`` px into the ink on one side (never more than 15 % of the ink extent)."""
    mask = alpha > INK_LEVEL
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return alpha
    extent = rows[-1] - rows[0] + 1 if side < 2 else cols[-1] - cols[0] + 1
    cut = min(cut, int(0.15 * extent))
    if cut <= 0:
        return alpha
    if side == 0:
        return alpha[rows[0] + cut :]
    if side == 1:
        return alpha[: rows[-1] + 1 - cut]
    if side == 2:
        return alpha[:, cols[0] + cut :]
    return alpha[:, : cols[-1] + 1 - cut]


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


_LETTERS = np.array(list(string.ascii_lowercase + "eeettaaoinsrh"))  # roughly English-frequent


def _words(rng: np.random.Generator, n_chars: int) -> str:
    chars = _LETTERS[rng.integers(len(_LETTERS), size=n_chars)]
    spaces = rng.random(n_chars) < 0.17
    chars[spaces] = " "
    return "".join(chars.tolist())


def _neighbour_strip(
    rng: np.random.Generator, side: int, font_px: float, formula_shape: tuple[int, int]
) -> np.ndarray:
    """Alpha of a text fragment that sits at the border on ``side`` (cut off by the snip)."""
    size = max(6, round(font_px * rng.uniform(0.8, 1.1)))
    fh, fw = formula_shape
    if side < 2:  # a line above/below: only the part nearest the formula is visible
        text = _words(rng, max(4, fw // max(3, size // 2)))
        visible = int(rng.integers(2, max(3, size)))
        strip = _draw_text(text, size, fw)
        return strip[-visible:] if side == 0 else strip[:visible]
    if side == 3 and rng.random() < 0.6:
        text = f"({rng.integers(1, 40)}{'.' + str(rng.integers(1, 20)) if rng.random() < 0.3 else ''})"
    else:  # words around an inline formula, possibly cut by the snip edge
        text = _words(rng, int(rng.integers(2, 9))).strip() or "and"
    strip = _draw_text(text, size, None)
    keep = int(rng.integers(max(1, strip.shape[1] // 3), strip.shape[1] + 1))
    return strip[:, -keep:] if side == 2 else strip[:, :keep]


def _draw_text(text: str, size: int, width: int | None) -> np.ndarray:
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    w = width if width is not None else max(1, right - left)
    img = Image.new("L", (max(1, w), max(1, bottom - top)), 0)
    ImageDraw.Draw(img).text((-left, -top), text, fill=255, font=font)
    return np.asarray(img, dtype=np.float32) / 255.0


def _place(
    strip: np.ndarray, side: int, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Put the fragment against the image border on ``side``; returns a full-size layer."""
    h, w = shape
    sh, sw = min(strip.shape[0], h), min(strip.shape[1], w)
    strip = strip[:sh, :sw]
    layer = np.zeros(shape, dtype=np.float32)
    if side < 2:
        x = int(rng.integers(0, w - sw + 1))
        y = 0 if side == 0 else h - sh
    else:
        y = int(rng.integers(0, h - sh + 1))
        x = 0 if side == 2 else w - sw
    layer[y : y + sh, x : x + sw] = strip
    return layer


# -- 5. degradations ----------------------------------------------------------------------------


def _degrade(
    img: Image.Image, theme: _Theme, rng: np.random.Generator, cfg: AugmentConfig, s: float
) -> Image.Image:
    noise, salt = _chance(rng, cfg.p_noise, s), _chance(rng, cfg.p_salt, s)
    if noise or salt:
        rgb = np.asarray(img, dtype=np.float32) / 255.0
        if noise:
            sigma = rng.uniform(*_shrink(cfg.noise_sigma, 0.0, s))
            rgb = rgb + rng.normal(0.0, sigma, rgb.shape[:2])[..., None].astype(np.float32)
        if salt:
            rgb = _salt(rgb, rng)
        img = Image.fromarray(_to_u8(rgb), "RGB")
    if _chance(rng, cfg.p_tone, s):
        img = img.point(_tone_lut(theme, rng, cfg, s))
    if _chance(rng, cfg.p_rotate, s):
        img = _rotate(img, theme, rng, cfg, s)
    if _chance(rng, cfg.p_jpeg, s):
        lo, hi = cfg.jpeg_quality
        quality = int(rng.integers(round(hi - (hi - lo) * min(1.0, s)), hi + 1))
        img = _jpeg(img, quality, subsampling=int(rng.choice([0, 2])))
    return img


def _tone_lut(
    theme: _Theme, rng: np.random.Generator, cfg: AugmentConfig, s: float
) -> list[int]:
    """Per-channel table: gamma, then contrast reduced towards the background (washed out)."""
    g = _log_uniform(rng, *_shrink(cfg.gamma, 1.0, s))
    c = rng.uniform(1.0 - (1.0 - cfg.min_contrast) * min(1.0, s), 1.0)
    v = (np.arange(256, dtype=np.float32) / 255.0) ** np.float32(g)
    bg = theme.bg ** np.float32(g)
    lut = bg[:, None] + (v[None, :] - bg[:, None]) * np.float32(c)  # (3, 256)
    return _to_u8(lut).ravel().tolist()


def _blur_sigma(rng: np.random.Generator, cfg: AugmentConfig, s: float, screen_dpi: float) -> float:
    """Blur radius in screen pixels, in proportion to the glyph size below the reference dpi."""
    scale = min(1.0, screen_dpi / cfg.blur_reference_dpi)
    return rng.uniform(*_shrink(cfg.blur_sigma, 0.0, s)) * scale


def _blur(layer: np.ndarray, sigma: float) -> np.ndarray:
    """Separable 5-tap Gaussian (enough for sigma <= 1), zero outside the layer."""
    k = np.exp(-0.5 * (np.arange(-2, 3, dtype=np.float32) / np.float32(sigma)) ** 2)
    k /= k.sum()
    padded = np.pad(layer, 2)
    rows = sum(k[i] * padded[i : i + layer.shape[0]] for i in range(5))
    return sum(k[i] * rows[:, i : i + layer.shape[1]] for i in range(5))


def _salt(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    n = max(1, int(h * w * rng.uniform(0.0005, 0.003)))
    ys, xs = rng.integers(h, size=n), rng.integers(w, size=n)
    rgb = rgb.copy()
    rgb[ys, xs] = rng.random(n)[:, None].astype(np.float32)
    return rgb


def _rotate(
    img: Image.Image, theme: _Theme, rng: np.random.Generator, cfg: AugmentConfig, s: float
) -> Image.Image:
    # Screen snips are axis-aligned; only a slight tilt (scans) and never enough to drift the
    # baseline of a long formula by more than a few pixels.
    limit = min(cfg.max_rotation_deg, math.degrees(math.atan(cfg.max_rotation_drift_px / img.width)))
    angle = rng.uniform(-limit, limit) * min(1.0, s)
    return img.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=_rgb8(theme.bg))


def _jpeg(img: Image.Image, quality: int, *, subsampling: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=subsampling)
    buf.seek(0)
    return Image.open(buf).convert("RGB")

"""Make any snip look like the model's training data.

Steps (the same code runs at training time, so the model only ever sees normalised input):
1. flatten transparency onto a background that contrasts with the content;
2. luminance, with polarity fixed so ink is dark on light (dark themes, white-on-black);
3. contrast stretch: background → white, ink → black (coloured text, grey JPEGs);
4. crop to the ink plus a margin;
5. rescale so the median glyph height equals ``target_glyph_height`` (one connected-component
   pass replaces pix2tex's second network and its repeated passes at several scales);
6. fit into the model's maximum size and pad to the patch grid.
The output is float32 (H, W) with ink = 1 and background = 0, so zero padding is blank paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from latexsnip.config import ModelConfig
from latexsnip.errors import ImageError

INK_THRESHOLD = 0.3  # normalised ink above this counts as a glyph pixel
MARGIN_PX = 3  # blank border kept around the ink, in model pixels
GLYPH_THRESHOLD = 0.3
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Prepared:
    array: np.ndarray  # float32 (H, W), ink=1, padded to the patch grid
    scale: float  # model pixels per input pixel
    content_size: tuple[int, int]  # (h, w) of the ink area before padding, in model pixels


def to_ink(image: Image.Image) -> np.ndarray:
    """Float32 (H, W) in [0, 1], ink = 1 and background = 0, for any image mode."""
    arr = np.asarray(image, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        lum, alpha = arr, None
    elif arr.shape[2] == 2:
        lum, alpha = arr[..., 0], arr[..., 1]
    else:
        rgb = arr[..., :3]
        lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        alpha = arr[..., 3] if arr.shape[2] == 4 else None
    if alpha is not None and float(alpha.min()) < 0.99:
        opaque = alpha > 0.5
        if not opaque.any():
            raise ImageError("the image is fully transparent: there is no formula in it")
        # Light content (dark-theme text exported with transparency) goes on black, dark on white.
        content_is_light = float(lum[opaque].mean()) > 0.5
        bg = 0.0 if content_is_light else 1.0
        lum = lum * alpha + bg * (1.0 - alpha)
    return _normalise_polarity(lum)


def _normalise_polarity(lum: np.ndarray) -> np.ndarray:
    """Background = most common grey level (snips are mostly paper), mapped to 0; ink to 1."""
    hist = np.bincount(np.clip((lum * 63).astype(np.int32), 0, 63).ravel(), minlength=64)
    background = np.float32((np.argmax(hist) + 0.5) / 63)
    dist = np.abs(lum - background)
    # The ink level is what lies farthest from the background (robust to a few outliers).
    far = float(np.quantile(dist, 0.998)) if dist.size > 500 else float(dist.max())
    if far < 0.08:
        raise ImageError("the image is blank: no formula found (too little contrast)")
    return np.clip(dist / far, 0.0, 1.0).astype(np.float32)


def crop_to_ink(ink: np.ndarray, margin: int = 0) -> np.ndarray:
    mask = ink > INK_THRESHOLD
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ImageError("the image is blank: no formula found")
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, ink.shape[0])
    left, right = max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, ink.shape[1])
    return ink[top:bottom, left:right]


def median_glyph_height(ink: np.ndarray) -> float | None:
    """Median height of the connected ink components that look like glyphs.

    Thin horizontal things (fraction bars, minus signs) and specks are ignored: their height says
    nothing about the font size. ``None`` when nothing glyph-like is found.
    """
    # A low threshold and 8-connectivity keep anti-aliased hairlines (Computer Modern) attached
    # to their glyph; 0.5/4-connectivity fragmented them and the estimate drifted 3x with dpi.
    labels, count = ndimage.label(ink > GLYPH_THRESHOLD, structure=_EIGHT_CONNECTED)
    if count == 0:
        return None
    slices = ndimage.find_objects(labels)
    heights = np.array([s[0].stop - s[0].start for s in slices], dtype=np.float32)
    widths = np.array([s[1].stop - s[1].start for s in slices], dtype=np.float32)
    keep = (heights >= 3) & (heights >= 0.35 * widths)
    if keep.sum() == 0:
        return None
    return float(np.median(heights[keep]))


def _resize(ink: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    img = Image.fromarray(np.ascontiguousarray(ink, dtype=np.float32), mode="F")
    # Box filter when shrinking (area averaging keeps thin strokes), bicubic when enlarging.
    method = Image.Resampling.BOX if w < ink.shape[1] else Image.Resampling.BICUBIC
    out = np.asarray(img.resize((w, h), method), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def prepare(image: Image.Image, cfg: ModelConfig, *, scale: float | None = None) -> Prepared:
    """Normalise one decoded image for the model (see module docstring)."""
    w, h = image.size
    if w < 2 or h < 2:
        raise ImageError(f"the image is too small to hold a formula ({w}×{h} pixels)")
    ink = crop_to_ink(to_ink(image))
    if scale is None:
        glyph = median_glyph_height(ink)
        scale = cfg.target_glyph_height / glyph if glyph else 1.0
        scale = float(np.clip(scale, 0.1, 4.0))
    new_h, new_w = max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale))
    # Fit into the model's maximum input (minus margins), keeping the aspect ratio.
    room_h, room_w = cfg.max_height - 2 * MARGIN_PX, cfg.max_width - 2 * MARGIN_PX
    fit = min(1.0, room_h / new_h, room_w / new_w)
    if fit < 1.0:
        scale *= fit
        new_h, new_w = max(1, int(new_h * fit)), max(1, int(new_w * fit))
    if (new_h, new_w) != ink.shape:
        ink = _resize(ink, (new_h, new_w))
    return Prepared(pad_to_grid(ink, cfg.patch), scale, (new_h, new_w))


LARGE_CAPTURE = 1_000_000  # pixels; beyond this a snip is searched for its formula first
PIXEL_BUDGET = 4_000_000  # pixels converted to float; larger inputs are reduced (as uint8) first
_CAPTURE_INK_LEVEL = 40  # grey levels from the background that count as ink in that search
_CAPTURE_MARGIN = 8


def locate_formula(image: Image.Image, cfg: ModelConfig) -> Image.Image:
    """Bring a large capture down to its formula before ``prepare`` (which works in float32).

    A 1920×1080 screenshot holding one small formula was "blank": the ink was too small a
    fraction of the image for the contrast estimate. Working on 8-bit luminance (1 byte per
    pixel), crop to the bounding box of everything that differs from the background; raise a
    clear ``ImageError`` when the content is spread over too much of the capture to be read as
    one formula; and reduce what is left to ``PIXEL_BUDGET`` pixels. Small images pass unchanged.
    """
    w, h = image.size
    if w * h <= LARGE_CAPTURE:
        return image
    gray = image.convert("L")
    background = int(np.argmax(gray.histogram()))  # in C: np.bincount would copy to int64
    lum = np.asarray(gray)
    lut = np.abs(np.arange(256) - background) > _CAPTURE_INK_LEVEL
    mask = lut[lum]
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return _reduce_to_budget(image)  # prepare() says what is wrong (blank / low contrast)
    top, bottom = max(rows[0] - _CAPTURE_MARGIN, 0), min(rows[-1] + 1 + _CAPTURE_MARGIN, h)
    left, right = max(cols[0] - _CAPTURE_MARGIN, 0), min(cols[-1] + 1 + _CAPTURE_MARGIN, w)
    box_h, box_w = bottom - top, right - left
    box = mask[top:bottom, left:right]
    step = max(1, int(np.ceil(np.sqrt(box.size / PIXEL_BUDGET))))  # bound the labelling's memory
    glyph = median_glyph_height(box[::step, ::step].astype(np.float32))
    glyph = glyph * step if glyph else None
    scale = float(np.clip(cfg.target_glyph_height / glyph, 0.1, 4.0)) if glyph else 1.0
    if _fit(cfg, box_h, box_w, scale) < 0.5:
        # Too wide or tall for one formula: keep the dominant cluster of ink (the formula next to
        # a clock or an icon) if there is one, else say what is wrong.
        cluster = _dominant_cluster(mask, glyph or 12.0)
        if cluster is None or _fit(cfg, cluster[1] - cluster[0], cluster[3] - cluster[2],
                                   scale) < 0.5:
            raise ImageError(
                f"this {w}×{h} capture has content spread over {box_w}×{box_h} pixels: more than "
                "one formula fits. Select just the formula (or crop the image to it)")
        y0, y1, x0, x1 = cluster
        top, bottom = max(y0 - _CAPTURE_MARGIN, 0), min(y1 + _CAPTURE_MARGIN, h)
        left, right = max(x0 - _CAPTURE_MARGIN, 0), min(x1 + _CAPTURE_MARGIN, w)
    return _reduce_to_budget(image.crop((left, top, right, bottom)))


def _fit(cfg: ModelConfig, box_h: int, box_w: int, scale: float) -> float:
    """How much a box of ink, at glyph scale, must shrink to fit the model (1 = not at all)."""
    return min((cfg.max_height - 2 * MARGIN_PX) / max(box_h * scale, 1e-6),
               (cfg.max_width - 2 * MARGIN_PX) / max(box_w * scale, 1e-6))


def _dominant_cluster(mask: np.ndarray, glyph: float) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the cluster holding most of the ink, when it holds at least
    half of it and twice as much as any other. Clusters: ink closer than ~3 glyph heights."""
    block = 4
    h, w = mask.shape
    hb, wb = -(-h // block), -(-w // block)
    padded = np.zeros((hb * block, wb * block), dtype=bool)
    padded[:h, :w] = mask
    counts = padded.reshape(hb, block, wb, block).sum(axis=(1, 3))
    gap = max(1, round(3 * glyph / block))
    joined = ndimage.binary_dilation(counts > 0, structure=np.ones((3, 3), bool), iterations=gap)
    labels, n = ndimage.label(joined)
    if n < 2:
        return None
    ink = ndimage.sum(counts, labels, index=np.arange(1, n + 1))
    order = np.argsort(ink)[::-1]
    best, second = ink[order[0]], ink[order[1]]
    if best < 0.5 * ink.sum() or best < 2 * second:
        return None
    rows, cols = np.nonzero((labels == order[0] + 1) & (counts > 0))
    return (int(rows.min()) * block, min(int(rows.max() + 1) * block, h),
            int(cols.min()) * block, min(int(cols.max() + 1) * block, w))


def _reduce_to_budget(image: Image.Image) -> Image.Image:
    w, h = image.size
    if w * h <= PIXEL_BUDGET:
        return image
    factor = int(np.ceil(np.sqrt(w * h / PIXEL_BUDGET)))
    return image.reduce(factor)  # box filter on 8-bit data: no float copy of the whole image


def pad_to_grid(ink: np.ndarray, patch: int, margin: int = MARGIN_PX) -> np.ndarray:
    h, w = ink.shape
    H = max(patch, -(-(h + 2 * margin) // patch) * patch)
    W = max(patch, -(-(w + 2 * margin) // patch) * patch)
    out = np.zeros((H, W), dtype=np.float32)
    top, left = (H - h) // 2, margin
    out[top : top + h, left : left + w] = ink
    return out


# Blank patches the engine adds below and right of every image. Training batches pad each image to
# the largest of its bucket, so the network has nearly always seen blank cells after the ink; a
# tight image at inference is slightly out of its distribution. Measured on the selection slice
# (ADR 0046), greedy: none 0.792 BLEU / 12.0 % exact, one 0.804 / 16.6 %, two 0.803 / 16.8 %.
INFERENCE_MARGIN_PATCHES = 1


def collate(arrays: list[np.ndarray], margin: int = 0,
            max_size: tuple[int, int] | None = None) -> np.ndarray:
    """Stack prepared arrays into (B, 1, H, W), zero-padding right and bottom, plus ``margin``
    blank pixels on both (see ``INFERENCE_MARGIN_PATCHES``) as far as ``max_size`` (H, W) allows."""
    H = max(a.shape[0] for a in arrays)
    W = max(a.shape[1] for a in arrays)
    if margin:
        limit_h, limit_w = max_size or (H + margin, W + margin)
        H, W = max(H, min(H + margin, limit_h)), max(W, min(W + margin, limit_w))
    out = np.zeros((len(arrays), 1, H, W), dtype=np.float32)
    for i, a in enumerate(arrays):
        out[i, 0, : a.shape[0], : a.shape[1]] = a
    return out


def inference_batch(arrays: list[np.ndarray], cfg: ModelConfig) -> np.ndarray:
    """The engine's input batch: ``collate`` with ``INFERENCE_MARGIN_PATCHES`` blank patches below
    and right, within the model's maximum input size."""
    return collate(arrays, margin=INFERENCE_MARGIN_PATCHES * cfg.patch,
                   max_size=(cfg.max_height, cfg.max_width))

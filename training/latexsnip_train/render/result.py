"""Result type shared by the rendering backends."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass
class RenderResult:
    """Outcome of rendering one formula: exactly one of ``image``/``error`` is set."""

    image: Image.Image | None = None  # mode "L", black ink on white, cropped to the ink + margin
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.image is not None


def crop_to_ink(img: Image.Image, margin: int = 4, threshold: int = 250) -> Image.Image | None:
    """Crop a grayscale image to its ink with a fixed white margin; None when there is no ink.

    ``threshold``: pixels darker than this count as ink (ignores faint anti-aliasing dust).
    """
    gray = img.convert("L")
    # getbbox() finds non-zero pixels, so look at the inverted, thresholded image
    mask = gray.point(lambda v: 255 if v < threshold else 0)
    box = mask.getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    out = Image.new("L", (w + 2 * margin, h + 2 * margin), 255)
    out.paste(gray.crop(box), (margin, margin))
    return out

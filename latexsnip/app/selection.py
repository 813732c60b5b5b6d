"""Geometry of capture-then-select, as pure functions (no Qt) so HiDPI/multi-monitor cases are unit-tested.

Three coordinate spaces meet here:
* *widget* coordinates: where the user drags, in Qt logical pixels of one overlay window;
* *image* pixels: the frozen screenshot of that screen (physical pixels on HiDPI);
* *desktop* coordinates: what the capture backend reports for each screen (``--region`` uses them).
We never assume a device-pixel ratio: the scale is always image size / window (or geometry) size,
which is correct for fractional scaling and for backends that report either unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def area(self) -> float:
        return max(self.w, 0) * max(self.h, 0)

    @classmethod
    def from_points(cls, x0: float, y0: float, x1: float, y1: float) -> Rect:
        """Normalised rectangle from a drag in any direction."""
        return cls(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))

    def intersect(self, other: Rect) -> Rect | None:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        if x1 <= x0 or y1 <= y0:
            return None
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def as_int_tuple(self) -> tuple[int, int, int, int]:
        return (int(self.x), int(self.y), int(self.w), int(self.h))


def _to_pixels(r: Rect, sx: float, sy: float, img_w: int, img_h: int) -> Rect | None:
    """Scale ``r`` and round *outwards* (never lose a sliver of the formula), clamped to the image."""
    x0 = max(0, math.floor(r.x * sx + 1e-6))
    y0 = max(0, math.floor(r.y * sy + 1e-6))
    x1 = min(img_w, math.ceil(r.right * sx - 1e-6))
    y1 = min(img_h, math.ceil(r.bottom * sy - 1e-6))
    if x1 <= x0 or y1 <= y0:
        return None
    return Rect(x0, y0, x1 - x0, y1 - y0)


def widget_to_image(
    sel: Rect, widget_size: tuple[float, float], image_size: tuple[int, int]
) -> Rect | None:
    """Map a selection in an overlay window (showing the whole screenshot) to image pixels."""
    ww, wh = widget_size
    iw, ih = image_size
    if ww <= 0 or wh <= 0:
        return None
    return _to_pixels(sel, iw / ww, ih / wh, iw, ih)


def region_to_image(
    region: Rect, shot_geometry: Rect, image_size: tuple[int, int]
) -> Rect | None:
    """Map a desktop-coordinate region onto one screenshot; ``None`` when they don't overlap."""
    inter = region.intersect(shot_geometry)
    if inter is None:
        return None
    local = Rect(inter.x - shot_geometry.x, inter.y - shot_geometry.y, inter.w, inter.h)
    iw, ih = image_size
    return _to_pixels(local, iw / shot_geometry.w, ih / shot_geometry.h, iw, ih)


@dataclass(frozen=True)
class Piece:
    """One screenshot's share of a region: ``source`` pixels of shot ``index`` go to ``target``."""

    index: int
    source: Rect
    target: Rect


def compose_region(
    region: Rect, shots: Sequence[tuple[Rect, tuple[int, int]]]
) -> tuple[tuple[int, int], list[Piece]] | None:
    """How to build the picture of a desktop ``region`` from per-screen shots (geometry, image size).

    A region inside one screen is a plain crop of its pixels (physical pixels on HiDPI). One that
    spans screens is stitched at the finest scale among them, so the HiDPI part stays 1:1 and a
    low-DPI part is enlarged (what a compositor does for a window straddling the two). The
    result covers the bounding box of the region's parts on screen; ``None`` when there are none.
    """
    parts = []
    for i, (geometry, size) in enumerate(shots):
        inter = region.intersect(geometry)
        box = region_to_image(region, geometry, size) if inter else None
        if inter is not None and box is not None:
            parts.append((i, inter, box, size[0] / geometry.w, size[1] / geometry.h))
    if not parts:
        return None
    if len(parts) == 1:
        i, _inter, box, _sx, _sy = parts[0]
        return (int(box.w), int(box.h)), [Piece(i, box, Rect(0, 0, box.w, box.h))]
    x0, y0 = min(p[1].x for p in parts), min(p[1].y for p in parts)
    x1, y1 = max(p[1].right for p in parts), max(p[1].bottom for p in parts)
    sx, sy = max(p[3] for p in parts), max(p[4] for p in parts)
    width, height = math.ceil((x1 - x0) * sx - 1e-6), math.ceil((y1 - y0) * sy - 1e-6)
    pieces = []
    for i, inter, box, _sx, _sy in parts:
        local = Rect(inter.x - x0, inter.y - y0, inter.w, inter.h)
        target = _to_pixels(local, sx, sy, width, height)
        if target is not None:
            pieces.append(Piece(i, box, target))
    return (width, height), pieces


def match_shots_to_screens(
    shots: Sequence[Rect], screens: Sequence[tuple[Rect, float]]
) -> list[int | None]:
    """For each Qt screen (logical geometry, device-pixel ratio) the index of its screenshot.

    First exact matches (backend reports logical or physical = logical × dpr coordinates), then the
    remaining ones paired in reading order, which survives any uniform or per-screen scaling.
    """
    result: list[int | None] = [None] * len(screens)
    used: set[int] = set()
    for si, (geo, dpr) in enumerate(screens):
        physical = Rect(geo.x * dpr, geo.y * dpr, geo.w * dpr, geo.h * dpr)
        for ti, shot in enumerate(shots):
            if ti not in used and (shot == geo or _close(shot, physical)):
                result[si] = ti
                used.add(ti)
                break
    free_screens = sorted(
        (i for i, r in enumerate(result) if r is None), key=lambda i: (screens[i][0].x, screens[i][0].y)
    )
    free_shots = sorted((i for i in range(len(shots)) if i not in used), key=lambda i: (shots[i].x, shots[i].y))
    for si, ti in zip(free_screens, free_shots, strict=False):
        result[si] = ti
    return result


def _close(a: Rect, b: Rect, tol: float = 1.0) -> bool:
    return all(abs(p - q) <= tol for p, q in ((a.x, b.x), (a.y, b.y), (a.w, b.w), (a.h, b.h)))


def split_combined(image_size: tuple[int, int], screens: Sequence[Rect]) -> list[Rect]:
    """Pixel box of each screen inside one screenshot of the whole desktop (portal/grim give one
    image for all outputs). The image covers the bounding box of ``screens``."""
    x0 = min(s.x for s in screens)
    y0 = min(s.y for s in screens)
    x1 = max(s.right for s in screens)
    y1 = max(s.bottom for s in screens)
    desktop = Rect(x0, y0, x1 - x0, y1 - y0)
    boxes = []
    for s in screens:
        box = region_to_image(s, desktop, image_size)
        boxes.append(box if box is not None else Rect(0, 0, 0, 0))
    return boxes

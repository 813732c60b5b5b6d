"""Turning files, bytes and Qt mime data (drops, paste) into PIL images."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QMimeData
from PySide6.QtGui import QImage

from latexsnip.app.qtimage import qimage_to_pil
from latexsnip.errors import ImageError
from latexsnip.imageio import load_image


def image_from_mime(mime: QMimeData) -> Image.Image:
    """Image data first (browsers put the pixels there), then the first local file URL.
    Remote URLs are refused: the app is offline by design."""
    if mime.hasImage():
        qimg = mime.imageData()
        if isinstance(qimg, QImage) and not qimg.isNull():
            return qimage_to_pil(qimg)
    for fmt in ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/webp"):
        if mime.hasFormat(fmt):
            return load_image(bytes(mime.data(fmt)))
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                return load_image(url.toLocalFile())
        raise ImageError("only local image files can be dropped (latexsnip works offline)")
    raise ImageError("no image in the dropped or pasted data")


def mime_has_image(mime: QMimeData) -> bool:
    return mime.hasImage() or mime.hasUrls() or any(
        mime.hasFormat(f) for f in ("image/png", "image/jpeg", "image/bmp")
    )

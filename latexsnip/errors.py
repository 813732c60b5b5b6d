"""Errors of the recognition core. Each message is meant to be shown to a user as is."""


class LatexsnipError(Exception):
    """Base class of everything the core raises on purpose."""


class ImageError(LatexsnipError, ValueError):
    """The input cannot be used as an image of a formula (corrupt, empty, not an image, …)."""


class BundleError(LatexsnipError):
    """A checkpoint bundle is missing, truncated, tampered with or inconsistent."""

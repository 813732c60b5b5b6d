"""Formula rendering backends (pdflatex, matplotlib mathtext) for synthetic training data."""

from .result import RenderResult

__all__ = ["RenderResult"]

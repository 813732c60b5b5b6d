"""latexsnip: offline screenshot-to-LaTeX."""

__version__ = "0.1.0"

"""When a reading may go to the clipboard on its own (pure; shared by the app and ``snip``).

A reading below the warning threshold is most likely not a formula (random pixels, a photo): it
must not overwrite what the user had on the clipboard. It is still shown, and copying it by hand
is always possible.
"""

from __future__ import annotations

NO_FORMULA = "no formula found"


def not_copied_reason(latex: str, confidence: float | None, threshold: float) -> str | None:
    """Why this reading must not be copied automatically; ``None`` when it may be."""
    if not latex.strip():
        return NO_FORMULA
    if confidence is not None and confidence < threshold:
        return f"{NO_FORMULA} (confidence {confidence:.0%} is below the {threshold:.0%} threshold)"
    return None


def confidence_text(confidence: float | None, threshold: float) -> str:
    """The result window's confidence line."""
    if confidence is None:
        return "Edited"
    if confidence < threshold:
        return f"⚠ Low confidence {confidence:.0%}: check the LaTeX"
    return f"Confidence {confidence:.0%}"

"""Font presets for the TeX backend: preset name -> preamble lines (+ the files they need)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FontPreset:
    name: str
    description: str
    preamble: str
    requires: tuple[str, ...]  # files that must be findable by kpsewhich


# Loaded for every preset: what printed formulas in our corpora commonly need.
BASE_PACKAGES = ("amsmath", "amssymb", "amsfonts", "bm", "mathrsfs", "cancel", "upgreek")

# MathJax/KaTeX spellings common in the corpora that LaTeX lacks (\providecommand: no clash).
COMPAT_MACROS = "\n".join((
    r"\providecommand{\lt}{<}",
    r"\providecommand{\gt}{>}",
    r"\providecommand{\coloneq}{\mathrel{\mathop:}=}",
    r"\providecommand{\coloneqq}{\mathrel{\mathop:}=}",
))

FONT_PRESETS: dict[str, FontPreset] = {
    p.name: p
    for p in (
        FontPreset("cm", "Computer Modern (TeX default)", "", ()),
        # Debian's lmodern package (setup.sh --train); the .tfm proves its fonts came with the .sty.
        FontPreset("lm", "Latin Modern", r"\usepackage{lmodern}", ("lmodern.sty", "rm-lmr10.tfm")),
        FontPreset(
            "times", "Times-like (txfonts)", r"\usepackage{txfonts}", ("txfonts.sty",)
        ),
        FontPreset(
            "mathptmx", "Times text + Symbol/RSFS math (mathptmx)", r"\usepackage{mathptmx}",
            ("mathptmx.sty",),
        ),
        FontPreset(
            "palatino", "Palatino-like (pxfonts)", r"\usepackage{pxfonts}", ("pxfonts.sty",)
        ),
        FontPreset(
            "mathpazo", "Palatino text + math (mathpazo)", r"\usepackage[sc]{mathpazo}",
            ("mathpazo.sty",),
        ),
        FontPreset(
            "sans", "Computer Modern Sans math (sfmath)",
            r"\usepackage[cm]{sfmath}\renewcommand{\familydefault}{\sfdefault}",
            ("sfmath.sty",),
        ),
        FontPreset(
            "helvet", "Helvetica text + sans math (sfmath + helvet)",
            r"\usepackage[scaled]{helvet}\usepackage[helvet]{sfmath}"
            r"\renewcommand{\familydefault}{\sfdefault}",
            ("helvet.sty", "sfmath.sty"),
        ),
        FontPreset("euler", "AMS Euler math (euler)", r"\usepackage{euler}", ("euler.sty",)),
        # Only with texlive-fonts-extra installed:
        FontPreset(
            "newtx", "Times-like (newtxtext/newtxmath)",
            r"\usepackage{newtxtext}\usepackage{newtxmath}", ("newtxmath.sty",),
        ),
        FontPreset(
            "newpx", "Palatino-like (newpxtext/newpxmath)",
            r"\usepackage{newpxtext}\usepackage{newpxmath}", ("newpxmath.sty",),
        ),
        FontPreset("cmbright", "CM Bright sans", r"\usepackage{cmbright}", ("cmbright.sty",)),
        FontPreset("fourier", "Utopia + Fourier math", r"\usepackage{fourier}", ("fourier.sty",)),
        FontPreset("kpfonts", "Kp-Fonts", r"\usepackage{kpfonts}", ("kpfonts.sty",)),
        FontPreset(
            "libertinus", "Libertinus (type1)", r"\usepackage{libertinus-type1}"
            r"\usepackage{libertinust1math}", ("libertinust1math.sty",),
        ),
        FontPreset(
            "eulervm", "Euler VM math + Palatino",
            r"\usepackage{mathpazo}\usepackage[euler-digits]{eulervm}", ("eulervm.sty",),
        ),
    )
}


def _kpsewhich_found(names: set[str]) -> set[str]:
    """The subset of ``names`` that kpsewhich finds (one call for all of them)."""
    exe = shutil.which("kpsewhich")
    if exe is None or not names:
        return set()
    out = subprocess.run([exe, *sorted(names)], capture_output=True, text=True, timeout=60)
    return {Path(line).name for line in out.stdout.splitlines() if line.strip()} & names


@functools.cache
def available_fonts() -> tuple[str, ...]:
    """Presets whose packages the installed TeX provides (checked once with kpsewhich)."""
    base = {f"{p}.sty" for p in BASE_PACKAGES}
    wanted = base.union(*(set(p.requires) for p in FONT_PRESETS.values()))
    found = _kpsewhich_found(wanted)
    if not base <= found:
        return ()
    return tuple(n for n, p in FONT_PRESETS.items() if set(p.requires) <= found)


def preamble(font: str) -> str:
    """Preamble lines for ``font``; raises KeyError for an unknown preset."""
    try:
        preset = FONT_PRESETS[font]
    except KeyError:
        raise KeyError(f"unknown font preset {font!r}; known: {', '.join(FONT_PRESETS)}") from None
    # Font packages after amsmath (they patch its symbols); amssymb before txfonts/pxfonts
    # clashes are avoided by loading amssymb first and letting the font package override.
    base = "\n".join(rf"\usepackage{{{p}}}" for p in BASE_PACKAGES)
    return base + "\n" + preset.preamble + "\n" + COMPAT_MACROS

"""User settings: a small validated JSON file. A broken file never stops the app (defaults + warning)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from latexsnip.app.clipboard import FORMATS
from latexsnip.app.paths import config_dir

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
RENDERERS = ("auto", "latex", "ziamath", "mathtext")
# Integer settings and their allowed ranges (the settings dialog's spin boxes use the same).
INT_RANGES = {"history_size": (1, 100_000), "beam_width": (1, 10)}


@dataclass
class Settings:
    device: str = "auto"
    copy_format: str = "raw"
    auto_copy: bool = True
    confidence_threshold: float = 0.6
    preview_renderer: str = "auto"
    history_size: int = 500
    # Beam 5 vs greedy on 200 im2latex_val images: BLEU +0.019, edit distance -0.034, for 1.3x
    # the median latency of one snip (training/RUNS.md, session 9). 1 = greedy.
    beam_width: int = 5


def validate(raw: object) -> tuple[Settings, list[str]]:
    """Keep every valid key of ``raw``; report (not raise) the rest so one typo doesn't reset all."""
    settings, problems = Settings(), []
    if not isinstance(raw, dict):
        return settings, [f"settings must be a JSON object, got {type(raw).__name__}"]
    choices = {"device": DEVICES, "copy_format": tuple(FORMATS), "preview_renderer": RENDERERS}
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value = raw[f.name]
        default = getattr(settings, f.name)
        ok = False
        if f.name in choices:
            ok = value in choices[f.name]
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif f.name == "confidence_threshold":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        elif f.name in INT_RANGES:
            low, high = INT_RANGES[f.name]
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        if ok:
            setattr(settings, f.name, value)
        else:
            problems.append(f"invalid {f.name}={value!r}, using {default!r}")
    unknown = set(raw) - {f.name for f in fields(Settings)}
    problems += [f"unknown setting {k!r} ignored" for k in sorted(unknown)]
    return settings, problems


class SettingsStore:
    """Loads/saves ``settings.json``; ``warnings`` lists what was wrong with the file on load."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / "settings.json"
        self.warnings: list[str] = []

    def load(self) -> Settings:
        self.warnings = []
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Settings()
        except OSError as exc:
            self.warnings = [f"cannot read {self.path}: {exc}"]
            return Settings()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            self.warnings = [f"{self.path} is corrupted ({exc}); using defaults"]
            return Settings()
        settings, self.warnings = validate(raw)
        for w in self.warnings:
            log.warning("settings: %s", w)
        return settings

    def save(self, settings: Settings) -> None:
        # Atomic replace: a crash mid-write leaves the old file, never half a file.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(settings), fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

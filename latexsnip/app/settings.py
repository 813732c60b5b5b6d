"""User settings: a small validated JSON file. A broken file never stops the app (defaults + warning)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from latexsnip.app.paths import config_dir
from latexsnip.formats import COPY_FORMATS

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
    # the median latency of one snip (training/RUNS.md, cpu-small-9). 1 = greedy.
    beam_width: int = 5
    # Render the beam's readings and let the one that looks most like the snip replace the
    # instant reading (latexsnip/render_compare.py); marks where the snip and render differ.
    verify_by_rendering: bool = True
    # The global snip key ("" = none; the desktop's own shortcut settings can bind `snip`).
    hotkey: str = "Ctrl+Alt+M"
    welcome_shown: bool = False  # the first-run window was seen


def _valid_hotkey(value: object) -> bool:
    from latexsnip.app.hotkey_spec import HotkeyError, parse_hotkey

    if not isinstance(value, str) or len(value) > 40:
        return False
    if not value:
        return True
    try:
        parse_hotkey(value)
    except HotkeyError:
        return False
    return True


def _short(value: object, limit: int = 60) -> str:
    try:
        text = repr(value)
    except RecursionError:
        return "(nested too deeply)"
    return text if len(text) <= limit else text[:limit] + "…"


def validate(raw: object) -> tuple[Settings, list[str]]:
    """Keep every valid key of ``raw``; report (not raise) the rest so one typo doesn't reset all."""
    settings, problems = Settings(), []
    if not isinstance(raw, dict):
        return settings, [f"settings must be a JSON object, got {type(raw).__name__}"]
    choices = {"device": DEVICES, "copy_format": COPY_FORMATS, "preview_renderer": RENDERERS}
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
        elif f.name == "hotkey":
            ok = _valid_hotkey(value)
        elif f.name == "confidence_threshold":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        elif f.name in INT_RANGES:
            low, high = INT_RANGES[f.name]
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        if ok:
            setattr(settings, f.name, value)
        else:
            problems.append(f"invalid {f.name}={_short(value)}, using {default!r}")
    unknown = set(raw) - {f.name for f in fields(Settings)}
    problems += [f"unknown setting {_short(k)} ignored" for k in sorted(unknown)[:20]]
    return settings, problems


MAX_SETTINGS_BYTES = 1 << 20  # a settings file is a few hundred bytes


def _parse(data: bytes) -> tuple[object, str | None]:
    """(JSON value, None) or (None, why the bytes are not a readable settings file)."""
    if len(data) > MAX_SETTINGS_BYTES:
        return None, f"larger than {MAX_SETTINGS_BYTES // 1024} KB"
    try:
        return json.loads(data.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text: byte {exc.start} is invalid"
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"


class SettingsStore:
    """Loads/saves ``settings.json``; ``warnings`` lists what was wrong with the file on load."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / "settings.json"
        self.warnings: list[str] = []

    def load(self) -> Settings:
        """The settings in the file; defaults (plus ``warnings``) for whatever is unusable. A file
        that cannot be read at all is copied aside first, so saving later loses nothing."""
        self.warnings = []
        try:
            with self.path.open("rb") as fh:
                data = fh.read(MAX_SETTINGS_BYTES + 1)
        except FileNotFoundError:
            return Settings()
        except OSError as exc:
            self.warnings = [f"cannot read {self.path}: {exc}; using defaults"]
            log.warning("settings: %s", self.warnings[0])
            return Settings()
        raw, problem = _parse(data)
        if problem is not None:
            kept = self._keep_copy(data)
            self.warnings = [f"{self.path} is unreadable ({problem}); using defaults"
                             + (f", the file was kept as {kept.name}" if kept else "")]
            log.warning("settings: %s", self.warnings[0])
            return Settings()
        settings, self.warnings = validate(raw)
        for w in self.warnings:
            log.warning("settings: %s", w)
        return settings

    def _keep_copy(self, data: bytes) -> Path | None:
        target = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
        try:
            target.write_bytes(data)
        except OSError as exc:
            log.warning("settings: could not keep a copy of %s: %s", self.path, exc)
            return None
        return target

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

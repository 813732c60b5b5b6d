"""Settings: validation, persistence, corruption recovery."""

from __future__ import annotations

import json

import pytest

from latexsnip.app.settings import Settings, SettingsStore, validate


def test_missing_file_gives_defaults(tmp_path):
    store = SettingsStore(tmp_path)
    assert store.load() == Settings()
    assert store.warnings == []


def test_roundtrip(tmp_path):
    store = SettingsStore(tmp_path)
    s = Settings(device="cpu", copy_format="equation", auto_copy=False, confidence_threshold=0.3,
                 preview_renderer="ziamath", history_size=7, beam_width=3)
    store.save(s)
    assert SettingsStore(tmp_path).load() == s
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temp files left


def test_default_location_honours_env(tmp_path):
    SettingsStore().save(Settings(copy_format="inline"))
    assert json.loads((tmp_path / "config" / "settings.json").read_text())["copy_format"] == "inline"


def test_corrupted_json_gives_defaults_and_warning(tmp_path):
    (tmp_path / "settings.json").write_text('{"device": "cpu", ')
    store = SettingsStore(tmp_path)
    assert store.load() == Settings()
    assert "unreadable" in store.warnings[0] and "not valid JSON" in store.warnings[0]


def test_invalid_values_are_dropped_one_by_one():
    s, problems = validate({"device": "tpu", "copy_format": "inline", "auto_copy": "yes",
                            "confidence_threshold": 1.5, "history_size": True, "colour": 1,
                            "beam_width": 0})
    assert s == Settings(copy_format="inline")
    assert len(problems) == 6
    assert any("colour" in p for p in problems)


def test_non_object_json(tmp_path):
    (tmp_path / "settings.json").write_text("[1, 2]")
    store = SettingsStore(tmp_path)
    assert store.load() == Settings()
    assert store.warnings


def test_dialog_edits_a_copy_and_returns_every_field(qtbot):
    from latexsnip.app.settings_dialog import SettingsDialog

    base = Settings(history_size=9)
    dialog = SettingsDialog(base)
    qtbot.addWidget(dialog)
    dialog.beam_width.setValue(1)
    dialog.auto_copy.setChecked(False)
    dialog.renderer.setCurrentIndex(dialog.renderer.findData("mathtext"))
    assert dialog.value() == Settings(history_size=9, beam_width=1, auto_copy=False,
                                      preview_renderer="mathtext")
    assert base == Settings(history_size=9)  # the caller's settings are untouched
    dialog.beam_width.setValue(99)  # the spin box clamps to what validate() accepts
    assert validate({"beam_width": dialog.value().beam_width})[1] == []


def test_dialog_hotkey_and_login_start(qtbot):
    from PySide6.QtGui import QKeySequence

    from latexsnip.app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), autostart=True)
    qtbot.addWidget(dialog)
    assert dialog.value().hotkey == "Ctrl+Alt+M" and dialog.autostart.isChecked()
    dialog.hotkey.setKeySequence(QKeySequence("Ctrl+Shift+F2"))
    assert dialog.value().hotkey == "Ctrl+Shift+F2"
    assert validate({"hotkey": dialog.value().hotkey})[1] == []
    dialog.hotkey.clear()
    assert dialog.value().hotkey == ""  # none


@pytest.mark.parametrize("content, why", [
    (b'{"device": "cpu\xff\xfe"}', "not UTF-8"),
    (b"[" * 100_000, "nested too deeply"),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    (b" " * (2 << 20), "larger than"),
])
def test_unreadable_file_warns_keeps_a_copy_and_starts_with_defaults(tmp_path, content, why):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    store = SettingsStore(tmp_path)
    assert store.load() == Settings()
    assert why in store.warnings[0] and "defaults" in store.warnings[0]
    copies = list(tmp_path.glob("settings.json.unreadable-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == content[: len(copies[0].read_bytes())]
    assert copies[0].name in store.warnings[0]
    store.save(Settings(copy_format="inline"))  # saving later loses nothing: the copy stays
    assert copies[0].exists()


def test_wrong_types_and_huge_values_are_reported_briefly(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps(
        {"device": ["cpu"] * 10_000, "history_size": "500", "beam_width": 10**100,
         "auto_copy": {"a": [[[]]]}}))
    store = SettingsStore(tmp_path)
    assert store.load() == Settings()
    assert len(store.warnings) == 4 and all(len(w) < 200 for w in store.warnings)

"""GUI tests run offscreen (set before any Qt import) with throw-away profile dirs and socket."""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("LATEXSNIP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LATEXSNIP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LATEXSNIP_SOCKET_NAME", f"latexsnip-test-{uuid.uuid4().hex[:10]}")
    monkeypatch.delenv("LATEXSNIP_FAKE_ENGINE", raising=False)
    return tmp_path


def formula_image(size: tuple[int, int] = (120, 40)) -> Image.Image:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((8, 10), "x^2+y", fill="black")
    return img


@pytest.fixture
def image() -> Image.Image:
    return formula_image()


@pytest.fixture(scope="session")
def sway(tmp_path_factory):
    """One headless sway for the whole run (``wayland_session``) with two outputs: the scale-1
    primary at the origin and a scale-2 one left of it. Skips only if sway can't run."""
    import sys

    from .wayland_session import Unavailable, start_sway

    if not sys.platform.startswith("linux"):
        pytest.skip("Wayland compositors run on Linux only")
    try:
        session = start_sway(tmp_path_factory.mktemp("sway"))
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        session.add_left_hidpi_output()
    except RuntimeError as exc:
        session.close()
        pytest.fail(f"sway runs but could not add a second output: {exc}")
    yield session
    session.close()


@pytest.fixture
def make_app(qtbot):
    """Factory for the real controller with a fake engine, capture and the Qt clipboard."""
    from PySide6.QtWidgets import QApplication

    from latexsnip.app.application import LatexsnipApp
    from latexsnip.app.clipboard import QtClipboard

    from .fakes import Capture, Engine, screen_shot

    apps = []

    def make(engine=None, factory=None, shots=None, listen=False, verifier_factory=None):
        engine = engine or Engine()
        app = LatexsnipApp(engine_factory=factory or (lambda device: engine),
                           capture_handlers=[Capture(shots or [screen_shot()])],
                           clipboard_handlers=[QtClipboard()], use_tray=False,
                           show_welcome=False, verifier_factory=verifier_factory)
        app.start(listen=listen)
        app.fake = engine
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.shutdown()
    QApplication.instance().setQuitOnLastWindowClosed(False)



"""xdg-desktop-portal Screenshot call (Wayland on GNOME/KDE) through QtDBus.

The portal replies with a ``Response`` signal on a Request object whose path derives from our
unique bus name and a token we choose; the signal is unicast to the caller, which is why this runs
in-process (a separate ``gdbus monitor`` would never see it). Not exercised by CI (no portal there).
"""

from __future__ import annotations

import secrets
from urllib.parse import unquote, urlparse

from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot
from PySide6.QtDBus import QDBusConnection, QDBusMessage

from latexsnip.app.capture import CaptureError

_SERVICE = "org.freedesktop.portal.Desktop"


class _Receiver(QObject):
    def __init__(self, loop: QEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.response: list | None = None

    @Slot(QDBusMessage)
    def handle(self, msg: QDBusMessage) -> None:
        self.response = list(msg.arguments())
        self.loop.quit()


def portal_screenshot(timeout_ms: int = 20_000) -> str:
    """Return the path of the PNG the portal wrote; raise ``CaptureError`` otherwise."""
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        raise CaptureError("portal: no D-Bus session bus")
    token = "latexsnip_" + secrets.token_hex(6)
    sender = bus.baseService().lstrip(":").replace(".", "_")
    request_path = f"/org/freedesktop/portal/desktop/request/{sender}/{token}"
    loop = QEventLoop()
    receiver = _Receiver(loop)
    bus.connect(_SERVICE, request_path, "org.freedesktop.portal.Request", "Response",
                receiver, "2handle(QDBusMessage)")  # "2…" is Qt's SLOT() encoding
    msg = QDBusMessage.createMethodCall(
        _SERVICE, "/org/freedesktop/portal/desktop", "org.freedesktop.portal.Screenshot", "Screenshot"
    )
    msg.setArguments(["", {"handle_token": token, "interactive": False}])
    reply = bus.call(msg)
    if reply.type() == QDBusMessage.MessageType.ErrorMessage:
        raise CaptureError(f"portal: {reply.errorMessage()}")
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    if receiver.response is None:
        raise CaptureError("portal: no answer (timed out)")
    code, results = receiver.response[0], receiver.response[1]
    if code != 0:
        raise CaptureError("portal: screenshot refused or cancelled")
    uri = str(dict(results).get("uri", ""))
    if not uri.startswith("file://"):
        raise CaptureError(f"portal: unexpected answer {uri!r}")
    return unquote(urlparse(uri).path)

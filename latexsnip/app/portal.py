"""xdg-desktop-portal Screenshot call (Wayland on GNOME/KDE) through QtDBus.

The portal replies with a ``Response`` signal on a Request object whose path derives from our
unique bus name and a token we choose; the signal is unicast to the caller, which is why this runs
in-process (a separate ``gdbus monitor`` would never see it). Tested against xdg-desktop-portal with
the wlr back-end on a headless sway (tests/gui/test_wayland.py).

Raises its own ``PortalError`` (the capture registry turns it into a ``CaptureError``), so this
module doesn't import ``capture``, which imports it lazily.
"""

from __future__ import annotations

import secrets
from urllib.parse import unquote, urlparse

from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot
from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage

_SERVICE = "org.freedesktop.portal.Desktop"


class PortalError(RuntimeError):
    pass


class _Receiver(QObject):
    def __init__(self, loop: QEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.response: list | None = None

    # Typed arguments make QtDBus unpack the a{sv} results into a dict (a QDBusMessage slot
    # would get an opaque QDBusArgument that PySide can't iterate).
    @Slot("uint", "QVariantMap")
    def handle(self, code: int, results: dict) -> None:
        self.response = [code, results]
        self.loop.quit()


def portal_screenshot(timeout_ms: int = 20_000) -> str:
    """Return the path of the PNG the portal wrote; raise ``PortalError`` otherwise."""
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        raise PortalError("portal: no D-Bus session bus")
    token = "latexsnip_" + secrets.token_hex(6)
    sender = bus.baseService().lstrip(":").replace(".", "_")
    request_path = f"/org/freedesktop/portal/desktop/request/{sender}/{token}"
    loop = QEventLoop()
    receiver = _Receiver(loop)
    if not bus.connect(_SERVICE, request_path, "org.freedesktop.portal.Request", "Response",
                       receiver, "2handle(uint,QVariantMap)"):  # "2…" is Qt's SLOT() encoding
        raise PortalError("portal: could not subscribe to the answer")
    msg = QDBusMessage.createMethodCall(
        _SERVICE, "/org/freedesktop/portal/desktop", "org.freedesktop.portal.Screenshot", "Screenshot"
    )
    msg.setArguments(["", {"handle_token": token, "interactive": False}])
    reply = bus.call(msg, QDBus.CallMode.Block, timeout_ms)
    if reply.type() == QDBusMessage.MessageType.ErrorMessage:
        raise PortalError(f"portal: {reply.errorMessage()}")
    timer = QTimer(singleShot=True, interval=timeout_ms)
    timer.timeout.connect(loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    bus.disconnect(_SERVICE, request_path, "org.freedesktop.portal.Request", "Response",
                   receiver, "2handle(uint,QVariantMap)")
    if receiver.response is None:
        raise PortalError("portal: no answer (timed out)")
    code, results = receiver.response[0], receiver.response[1]
    if code != 0:
        raise PortalError("portal: screenshot refused or cancelled")
    uri = str(results.get("uri", ""))
    if not uri.startswith("file://"):
        raise PortalError(f"portal: unexpected answer {uri!r}")
    return unquote(urlparse(uri).path)

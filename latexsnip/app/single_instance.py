"""One app per user: a QLocalServer named per user; later invocations talk to it.

Protocol: the client sends one JSON object per line, the server answers one JSON object per line
and closes. Commands: ``ping``, ``show``, ``snip``, ``recognize`` (base64 PNG; answered when the
LaTeX is on the clipboard, so the caller can exit only once it's delivered).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024 * 1024  # a screenshot as base64 PNG fits easily


def server_name() -> str:
    """Per-user name (``LATEXSNIP_SOCKET_NAME`` overrides, for tests running side by side)."""
    override = os.environ.get("LATEXSNIP_SOCKET_NAME")
    if override:
        return override
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return "latexsnip-" + hashlib.sha1(user.encode()).hexdigest()[:12]


class Reply:
    """Answers one request; safe to call after the client went away (then it's a no-op)."""

    def __init__(self, socket: QLocalSocket) -> None:
        self._socket: QLocalSocket | None = socket

    def send(self, message: dict) -> None:
        sock, self._socket = self._socket, None
        if sock is None or sock.state() != QLocalSocket.LocalSocketState.ConnectedState:
            return
        sock.write(json.dumps(message).encode() + b"\n")
        sock.flush()
        sock.disconnectFromServer()


class InstanceServer(QObject):
    request = Signal(dict, object)  # message, Reply

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._on_connection)
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def listen(self) -> bool:
        """Start serving; a stale socket left by a crashed instance is removed first."""
        if self.server.listen(self.name):
            return True
        if ping(self.name, timeout_ms=500):
            return False  # a live instance owns the name
        QLocalServer.removeServer(self.name)
        return self.server.listen(self.name)

    def close(self) -> None:
        self.server.close()

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            self._buffers[sock] = bytearray()
            sock.readyRead.connect(lambda s=sock: self._on_ready(s))
            sock.disconnected.connect(lambda s=sock: self._drop(s))

    def _drop(self, sock: QLocalSocket) -> None:
        self._buffers.pop(sock, None)
        sock.deleteLater()

    def _on_ready(self, sock: QLocalSocket) -> None:
        buf = self._buffers.get(sock)
        if buf is None:
            return
        buf += bytes(sock.readAll())
        if len(buf) > MAX_MESSAGE:
            Reply(sock).send({"ok": False, "error": "message too large"})
            return
        if b"\n" not in buf:
            return
        line = bytes(buf.split(b"\n", 1)[0])
        self._buffers[sock] = bytearray()
        try:
            message = json.loads(line)
            if not isinstance(message, dict) or not isinstance(message.get("cmd"), str):
                raise ValueError("expected an object with 'cmd'")
        except ValueError as exc:
            Reply(sock).send({"ok": False, "error": f"bad request: {exc}"})
            return
        self.request.emit(message, Reply(sock))


def send_request(message: dict, name: str | None = None, timeout_ms: int = 120_000,
                 connect_timeout_ms: int = 1000) -> dict | None:
    """Blocking client. ``None`` when no instance is listening; raises ``TimeoutError``/``OSError``
    when one is there but doesn't answer properly."""
    sock = QLocalSocket()
    sock.connectToServer(name or server_name())
    if not sock.waitForConnected(connect_timeout_ms):
        return None
    sock.write(json.dumps(message).encode() + b"\n")
    sock.waitForBytesWritten(timeout_ms)
    data = bytearray()
    deadline = time.monotonic() + timeout_ms / 1000
    # Short waits: PySide holds the GIL inside waitFor*(), which would starve a server running
    # in the same process (tests); a slice of 50 ms costs nothing across processes.
    while b"\n" not in data:
        if time.monotonic() > deadline:
            sock.abort()
            raise TimeoutError("the running latexsnip did not answer")
        sock.waitForReadyRead(50)
        data += bytes(sock.readAll())
        if sock.state() == QLocalSocket.LocalSocketState.UnconnectedState and b"\n" not in data:
            data += bytes(sock.readAll())
            if b"\n" not in data:
                raise OSError("the running latexsnip closed the connection without answering")
    sock.abort()
    try:
        answer = json.loads(bytes(data).split(b"\n", 1)[0])
    except ValueError as exc:
        raise OSError(f"garbled answer from the running latexsnip: {exc}") from exc
    return answer if isinstance(answer, dict) else {"ok": False, "error": "garbled answer"}


def ping(name: str | None = None, timeout_ms: int = 1000) -> bool:
    try:
        answer = send_request({"cmd": "ping"}, name, timeout_ms=timeout_ms,
                              connect_timeout_ms=timeout_ms)
    except (TimeoutError, OSError):
        return False
    return bool(answer and answer.get("ok"))


Handler = Callable[[dict, Reply], None]

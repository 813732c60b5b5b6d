"""One app per user: a QLocalServer named per user; later invocations talk to it.

Protocol: the client sends one JSON object per line, the server answers one JSON object per line
and closes. Commands: ``ping``, ``show``, ``snip``, ``recognize`` (base64 PNG; answered when the
LaTeX is on the clipboard, so the caller can exit only once it's delivered).

Who may talk to whom: the socket lives in ``$XDG_RUNTIME_DIR`` or in a private 0700 directory of
ours (never directly in a shared directory such as /tmp, where another user could create the name
first), and on Linux both ends check the peer's uid (``SO_PEERCRED``): screenshots go only to,
and commands come only from, this user.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import socket
import stat
import struct
import sys
import tempfile
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024 * 1024  # a screenshot as base64 PNG fits easily


class InstanceError(OSError):
    """The socket's directory or the peer on the other end is not this user's."""


def _own_uid() -> int:
    return os.getuid()


def _private_dir_problem(path: str) -> str | None:
    """Why ``path`` is not a directory only we can use, or None when it is."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot inspect {path}: {exc}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory (or is a symbolic link)"
    if st.st_uid != _own_uid():
        return f"{path} belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o077:
        return f"{path} can be used by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def socket_dir() -> str:
    """``$XDG_RUNTIME_DIR`` when it is ours and private, else ``<tmp>/latexsnip-<uid>`` (0700),
    created if needed. Raises ``InstanceError`` rather than use a directory someone else owns."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        problem = _private_dir_problem(runtime)
        if problem is None:
            return runtime
        log.warning("not using XDG_RUNTIME_DIR: %s", problem)
    path = os.path.join(tempfile.gettempdir(), f"latexsnip-{_own_uid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    problem = _private_dir_problem(path)
    if problem is not None:
        raise InstanceError(f"refusing to use {path} for the app's socket: {problem}")
    return path


def server_name() -> str:
    """Path of this user's socket (``LATEXSNIP_SOCKET_NAME`` names another one in the same private
    directory, for tests running side by side). Windows: a per-user pipe name."""
    override = os.environ.get("LATEXSNIP_SOCKET_NAME")
    if sys.platform == "win32":
        if override:
            return override
        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name in some containers
            user = "user"
        return "latexsnip-" + hashlib.sha1(user.encode()).hexdigest()[:12]
    name = os.path.basename(override) if override else "latexsnip.sock"
    return os.path.join(socket_dir(), name)


def peer_uid(descriptor: int) -> int | None:
    """The uid of the process at the other end of a connected local socket (Linux); None where
    the platform cannot tell (there the private directory is the only guard)."""
    if not sys.platform.startswith("linux") or descriptor < 0:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(descriptor)) as sock:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def _peer_is_us(sock: QLocalSocket) -> tuple[bool, int | None]:
    try:
        uid = peer_uid(int(sock.socketDescriptor()))
    except OSError:
        return False, None
    return uid is None or uid == _own_uid(), uid


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
        self.problem = ""
        try:
            self.name = name or server_name()
        except InstanceError as exc:  # no safe place for the socket: run without one
            self.name, self.problem = "", str(exc)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._on_connection)
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def listen(self) -> bool:
        """Start serving; a stale socket left by a crashed instance is removed first."""
        if not self.name:
            log.warning("no single-instance socket: %s", self.problem)
            return False
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
            ours, uid = _peer_is_us(sock)
            if not ours:
                log.warning("refused a connection from another user (uid %s)", uid)
                sock.abort()
                sock.deleteLater()
                continue
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
    ours, uid = _peer_is_us(sock)
    if not ours:
        sock.abort()
        raise InstanceError(f"the latexsnip socket is served by another user (uid {uid}); "
                            "refusing to send it anything")
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

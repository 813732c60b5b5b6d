"""Single-instance signalling over QLocalServer/QLocalSocket.

The client runs in a separate process, as it does for real (`latexsnip snip` from an OS
shortcut), while this process's event loop serves. (A client in a thread of the same process
crashed the interpreter now and then: Qt objects must not outlive or cross their thread.)
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from latexsnip.app import single_instance
from latexsnip.app.single_instance import (
    InstanceError,
    InstanceServer,
    ping,
    send_request,
    server_name,
)

from .ipc_client import client, result, send_in_client


def test_socket_is_in_a_private_directory_never_a_shared_one(monkeypatch):
    monkeypatch.delenv("LATEXSNIP_SOCKET_NAME")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    path = server_name()
    parent = os.path.dirname(path)
    st = os.lstat(parent)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
    assert stat.S_IMODE(st.st_mode) == 0o700  # not /tmp itself: nobody else can create the name
    monkeypatch.setenv("LATEXSNIP_SOCKET_NAME", "x")
    assert server_name() == os.path.join(parent, "x")


def test_xdg_runtime_dir_is_used_when_private(tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert os.path.dirname(server_name()) == str(runtime)
    runtime.chmod(0o777)  # a shared runtime dir is not used
    monkeypatch.setattr(single_instance.tempfile, "gettempdir", lambda: str(tmp_path))
    assert os.path.dirname(server_name()) == str(tmp_path / f"latexsnip-{os.getuid()}")


@pytest.mark.parametrize("kind", ["world_writable", "symlink", "other_owner"])
def test_fallback_directory_someone_else_prepared_is_refused(kind, tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(single_instance.tempfile, "gettempdir", lambda: str(tmp_path))
    planted = tmp_path / f"latexsnip-{os.getuid()}"
    if kind == "world_writable":
        planted.mkdir()
        planted.chmod(0o777)
    elif kind == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        planted.symlink_to(tmp_path / "elsewhere")
    else:
        planted.mkdir(mode=0o700)
        if os.getuid() == 0:
            os.chown(planted, 65534, 65534)
        else:  # cannot give a directory away: pretend to be someone else instead
            monkeypatch.setattr(single_instance, "_own_uid", lambda: os.getuid() + 1)
            planted = tmp_path / f"latexsnip-{os.getuid() + 1}"
            planted.mkdir(mode=0o700)
    with pytest.raises(InstanceError, match="refusing"):
        server_name()


_IMPOSTOR = r"""
import socket, sys
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1]); srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
conn.recv(65536)
conn.sendall(b'{"ok": true, "latex": "impostor"}\n')
conn.close()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.getuid() != 0,
                    reason="needs Linux and root to run a server as another user")
def test_client_refuses_a_server_run_by_another_user(tmp_path):
    import tempfile

    shared = tempfile.mkdtemp(prefix="latexsnip-shared-")
    os.chmod(shared, 0o777)
    path = os.path.join(shared, "sock")
    try:  # the test's own interpreter may live where that user cannot read it
        proc = subprocess.Popen(["/usr/bin/python3", "-c", _IMPOSTOR, path], user=65534,
                                stdout=subprocess.PIPE, text=True)
    except OSError as exc:
        pytest.skip(f"cannot run a Python as another user: {exc}")
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(InstanceError, match="another user"):
            send_request({"cmd": "recognize", "png": "secret"}, name=path, timeout_ms=3000)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(shared, ignore_errors=True)


def test_server_refuses_a_client_of_another_user(qtbot, monkeypatch):
    server = InstanceServer()
    assert server.listen()
    calls = []
    server.request.connect(lambda m, r: (calls.append(m), r.send({"ok": True})))
    monkeypatch.setattr(single_instance, "_own_uid", lambda: os.getuid() + 1)
    proc = client("""
        import json
        from latexsnip.app.single_instance import send_request
        try:
            print(json.dumps(send_request({"cmd": "snip"}, timeout_ms=5000)))
        except OSError as exc:
            print(json.dumps({"refused": str(exc)}))
    """)
    answer = result(qtbot, proc)
    assert "refused" in answer and calls == []
    server.close()


def test_no_server_means_none():
    assert send_request({"cmd": "snip"}, connect_timeout_ms=200) is None
    assert not ping(timeout_ms=200)


def test_request_reaches_handler_and_gets_answer(qtbot):
    server = InstanceServer()
    assert server.listen()
    got = []

    def handle(msg, reply):
        got.append(msg)
        reply.send({"ok": True, "echo": msg["cmd"]})

    server.request.connect(handle)
    proc = send_in_client({"cmd": "snip"})
    assert result(qtbot, proc) == {"ok": True, "echo": "snip"}
    assert got == [{"cmd": "snip"}]
    server.close()


def test_deferred_answer(qtbot):
    # The server may answer later (after recognition); the client waits for it.
    server = InstanceServer()
    assert server.listen()
    pending = []
    server.request.connect(lambda msg, reply: pending.append(reply))
    proc = send_in_client({"cmd": "recognize"}, timeout_ms=20000)
    qtbot.waitUntil(lambda: bool(pending), timeout=20000)
    qtbot.wait(100)
    assert proc.poll() is None  # still waiting for the deferred answer
    pending[0].send({"ok": True, "latex": "x"})
    assert result(qtbot, proc)["latex"] == "x"
    server.close()


def test_garbage_request_is_refused(qtbot):
    server = InstanceServer()
    assert server.listen()
    calls = []
    server.request.connect(lambda m, r: calls.append(m))

    proc = client("""
        import json
        from PySide6.QtNetwork import QLocalSocket
        from latexsnip.app.single_instance import server_name
        s = QLocalSocket()
        s.connectToServer(server_name())
        s.waitForConnected(5000)
        s.write(b"not json\\n")
        s.waitForBytesWritten(5000)
        data = b""
        for _ in range(500):
            s.waitForReadyRead(30)
            data += bytes(s.readAll())
            if data.endswith(b"\\n"):
                break
        print(data.decode().strip())
    """)
    answer = result(qtbot, proc)
    assert answer["ok"] is False and "bad request" in answer["error"]
    assert calls == []
    server.close()


def test_second_server_cannot_take_over_a_live_one(qtbot):
    first = InstanceServer()
    assert first.listen()
    first.request.connect(lambda m, r: r.send({"ok": True}))
    second = InstanceServer()
    # Another process finds the first instance alive (this process's event loop answers).
    proc = client("""
        from latexsnip.app.single_instance import ping
        print('true' if ping(timeout_ms=5000) else 'false')
    """)
    assert result(qtbot, proc) is True
    first.close()
    assert second.listen()  # after the first is gone the name is free again
    second.close()


def test_stale_socket_is_replaced(qtbot):
    from PySide6.QtNetwork import QLocalServer

    # A server that never answers stands in for a crashed instance's leftover socket file.
    stale = QLocalServer()
    assert stale.listen(server_name())
    stale.close()
    server = InstanceServer()
    assert server.listen()
    server.close()

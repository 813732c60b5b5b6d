"""Single-instance signalling over QLocalServer/QLocalSocket.

The client runs in a separate process, as it does for real (`latexsnip snip` from an OS
shortcut), while this process's event loop serves. (A client in a thread of the same process
crashed the interpreter now and then: Qt objects must not outlive or cross their thread.)
"""

from __future__ import annotations

from latexsnip.app.single_instance import InstanceServer, ping, send_request, server_name

from .ipc_client import client, result, send_in_client


def test_name_is_per_user_and_overridable(monkeypatch):
    monkeypatch.delenv("LATEXSNIP_SOCKET_NAME")
    name = server_name()
    assert name.startswith("latexsnip-") and "/" not in name
    monkeypatch.setenv("LATEXSNIP_SOCKET_NAME", "x")
    assert server_name() == "x"


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

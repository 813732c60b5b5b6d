"""Single-instance signalling over QLocalServer/QLocalSocket (client runs in a thread, as the
second process would, so the server's event loop keeps turning)."""

from __future__ import annotations

import json
import threading

from PySide6.QtNetwork import QLocalSocket

from latexsnip.app.single_instance import InstanceServer, ping, send_request, server_name


def in_thread(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn()), daemon=True)
    t.start()
    return t, box


def wait_thread(qtbot, t, timeout=5000):
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=timeout)


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
    t, box = in_thread(lambda: send_request({"cmd": "snip"}, timeout_ms=3000))
    wait_thread(qtbot, t)
    assert got == [{"cmd": "snip"}]
    assert box["r"] == {"ok": True, "echo": "snip"}
    server.close()


def test_deferred_answer(qtbot):
    # The server may answer later (after recognition); the client waits for it.
    server = InstanceServer()
    assert server.listen()
    pending = []
    server.request.connect(lambda msg, reply: pending.append(reply))
    t, box = in_thread(lambda: send_request({"cmd": "recognize"}, timeout_ms=5000))
    qtbot.waitUntil(lambda: bool(pending), timeout=3000)
    qtbot.wait(100)
    assert t.is_alive()
    pending[0].send({"ok": True, "latex": "x"})
    wait_thread(qtbot, t)
    assert box["r"]["latex"] == "x"
    server.close()


def test_garbage_request_is_refused(qtbot):
    server = InstanceServer()
    assert server.listen()
    calls = []
    server.request.connect(lambda m, r: calls.append(m))

    def raw():
        s = QLocalSocket()
        s.connectToServer(server.name)
        s.waitForConnected(1000)
        s.write(b"not json\n")
        s.waitForBytesWritten(1000)
        data = b""
        for _ in range(100):  # short waits: waitFor*() holds the GIL (see send_request)
            s.waitForReadyRead(30)
            data += bytes(s.readAll())
            if data.endswith(b"\n"):
                break
        return json.loads(data.decode())

    t, box = in_thread(raw)
    wait_thread(qtbot, t)
    assert box["r"]["ok"] is False and "bad request" in box["r"]["error"]
    assert calls == []
    server.close()


def test_second_server_cannot_take_over_a_live_one(qtbot):
    first = InstanceServer()
    assert first.listen()
    first.request.connect(lambda m, r: r.send({"ok": True}))
    second = InstanceServer()
    box = {}
    # listen() pings the live instance, which must answer from this thread's event loop.
    t = threading.Thread(target=lambda: box.setdefault("alive", ping(first.name)), daemon=True)
    t.start()
    wait_thread(qtbot, t)
    assert box["alive"]
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

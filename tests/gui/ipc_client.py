"""Run single-instance clients in a separate process, as they run for real (`latexsnip snip`
from an OS shortcut), while the test process's event loop serves. A client in a thread of the
same process crashed the interpreter now and then: Qt objects must not cross threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap


def client(code: str) -> subprocess.Popen:
    """Run ``code`` (which must print one JSON value) in a fresh interpreter."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(qtbot, proc: subprocess.Popen, timeout: int = 20000):
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=timeout)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    return json.loads(out)


def send_in_client(message: dict, timeout_ms: int = 5000) -> subprocess.Popen:
    return client(f"""
        import json
        from latexsnip.app.single_instance import send_request
        print(json.dumps(send_request({message!r}, timeout_ms={timeout_ms})))
    """)

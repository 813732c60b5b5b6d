"""History: persistence across restarts, search, delete, size limit, corruption recovery."""

from __future__ import annotations

import sqlite3

from latexsnip.app.history import History


def test_entries_survive_restart(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = History(path)
    first = h.add(r"\alpha", 0.9, b"PNG1", created=1.0)
    h.add(r"\beta", None, None, created=2.0)
    h.close()
    h2 = History(path)
    assert [e.latex for e in h2.list()] == [r"\beta", r"\alpha"]  # newest first
    entry = h2.get(first)
    assert (entry.latex, entry.confidence, entry.png) == (r"\alpha", 0.9, b"PNG1")


def test_default_path_honours_env(tmp_path):
    History().add("x", 1.0, None)
    assert (tmp_path / "data" / "history.sqlite3").exists()


def test_search_is_substring_and_escapes_wildcards(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    for latex in (r"\frac{a}{b}", "a_1", "a1", "100%", r"\sqrt{x}"):
        h.add(latex, 1.0, None)
    assert {e.latex for e in h.list("FRAC")} == {r"\frac{a}{b}"}
    assert {e.latex for e in h.list("_")} == {"a_1"}
    assert {e.latex for e in h.list("%")} == {"100%"}
    assert {e.latex for e in h.list("\\")} == {r"\frac{a}{b}", r"\sqrt{x}"}


def test_delete_and_update(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    a = h.add("a", 1.0, None)
    b = h.add("b", 1.0, None)
    h.delete(a)
    h.update_latex(b, "b2")
    assert [e.latex for e in h.list()] == ["b2"]
    assert h.get(a) is None


def test_limit_keeps_newest(tmp_path):
    h = History(tmp_path / "h.sqlite3", limit=3)
    for i in range(5):
        h.add(f"x{i}", 1.0, None, created=float(i))
    assert [e.latex for e in h.list()] == ["x4", "x3", "x2"]
    h.set_limit(1)
    assert len(h) == 1


def test_garbage_file_is_moved_aside(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    h = History(path)
    assert h.recovered_from is not None and h.recovered_from.exists()
    h.add("fresh", 1.0, None)
    assert [e.latex for e in h.list()] == ["fresh"]


def test_truncated_database_recovers(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = History(path)
    for i in range(50):
        h.add("x" * 500 + str(i), 1.0, b"\0" * 2000)
    h.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * 4000 + data[4100:])  # clobber pages mid-file
    h2 = History(path)
    h2.add("after", 1.0, None)
    assert "after" in {e.latex for e in h2.list()}


def test_uncommitted_write_is_not_visible_after_crash(tmp_path):
    # A "crash" between INSERT and COMMIT: the other connection never sees half an entry.
    path = tmp_path / "h.sqlite3"
    h = History(path)
    h.add("kept", 1.0, None)
    raw = sqlite3.connect(path)
    raw.execute("BEGIN")
    raw.execute("INSERT INTO snips(created, latex) VALUES (9, 'half')")
    raw.close()  # no commit
    assert [e.latex for e in History(path).list()] == ["kept"]


def _locked_elsewhere(path, seconds, wal=False):
    """Another process's connection holding a lock on ``path`` for ``seconds``."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import sqlite3, sys, time
        db = sqlite3.connect({str(path)!r}, isolation_level=None)
        db.execute("BEGIN {'IMMEDIATE' if wal else 'EXCLUSIVE'}")
        db.execute("INSERT INTO snips(created, latex) VALUES (1, 'other')")
        print("locked", flush=True)
        time.sleep({seconds})
        db.execute("ROLLBACK")
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _rollback_journal_db(path):
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE snips (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, "
               "latex TEXT NOT NULL, confidence REAL, png BLOB)")
    db.execute("INSERT INTO snips(created, latex) VALUES (1, 'kept')")
    db.commit()
    db.close()


def test_a_briefly_locked_database_is_waited_for_not_quarantined(tmp_path):
    path = tmp_path / "h.sqlite3"
    _rollback_journal_db(path)
    proc = _locked_elsewhere(path, 1.0)
    h = History(path, busy_timeout_s=20)
    assert h.recovered_from is None and not h.unavailable
    assert [e.latex for e in h.list()] == ["kept"]
    assert list(tmp_path.glob("*.corrupt-*")) == []
    h.close()
    proc.wait()


def test_a_database_locked_for_long_is_left_alone(tmp_path):
    path = tmp_path / "h.sqlite3"
    _rollback_journal_db(path)
    proc = _locked_elsewhere(path, 30)
    try:
        h = History(path, busy_timeout_s=0.3)
        assert h.recovered_from is None and "locked" in h.unavailable
        h.add("this session", 0.9, None)  # works, in memory
        assert len(h) == 1
        h.close()
    finally:
        proc.kill()
        proc.wait()
    assert list(tmp_path.glob("*.corrupt-*")) == []
    h = History(path)
    assert [e.latex for e in h.list()] == ["kept"]
    h.close()


def test_wal_database_with_a_write_lock_elsewhere_starts(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = History(path)
    h.add("kept", 0.5, None)
    h.close()
    proc = _locked_elsewhere(path, 2.0, wal=True)
    h = History(path, busy_timeout_s=20)
    assert h.recovered_from is None and not h.unavailable
    assert [e.latex for e in h.list()] == ["kept"]
    h.add("new", 0.5, None)  # waits for the other writer
    h.close()
    proc.wait()


def test_database_and_directory_are_private(tmp_path):
    import stat

    path = tmp_path / "data" / "history.sqlite3"
    h = History(path)
    h.add("x", 0.5, b"png")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for side in path.parent.glob("history.sqlite3-*"):
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0
    h.close()
    path.chmod(0o644)  # made by an older version
    History(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

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

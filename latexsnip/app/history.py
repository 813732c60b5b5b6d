"""Snip history in SQLite (WAL): one transaction per snip, so a crash never leaves half an entry.
See docs/adr/0003-history-storage.md for why not JSON + PNG files.

The file holds screenshots: it is created 0600 in a 0700 directory. Another process holding a lock
is waited for (busy timeout), never mistaken for damage: only SQLite's own "corrupt"/"not a
database" verdicts or a failed quick_check move the file aside. A database that stays locked or
cannot be opened leaves this session with an in-memory history and a warning; the file is kept.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from latexsnip.app.paths import data_dir

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snips (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    latex TEXT NOT NULL,
    confidence REAL,
    png BLOB
);
CREATE INDEX IF NOT EXISTS snips_created ON snips(created);
"""


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    created: float  # unix time
    latex: str
    confidence: float | None
    png: bytes | None = None


_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


class _IntegrityError(sqlite3.DatabaseError):
    """quick_check found damage."""


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Only a real integrity failure justifies moving the user's history aside; "database is
    locked", permissions or a full disk are OperationalErrors and say nothing about the file."""
    if isinstance(exc, _IntegrityError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    return not isinstance(exc, sqlite3.OperationalError)


class History:
    def __init__(self, path: Path | None = None, limit: int = 500,
                 busy_timeout_s: float = 10.0) -> None:
        self.path = path or data_dir() / "history.sqlite3"
        self.limit = limit
        self.busy_timeout_s = busy_timeout_s
        self.recovered_from: Path | None = None  # set when a corrupt file was moved aside
        self.unavailable = ""  # why this session's history is in memory only ("" = on disk)
        self._prepare_file()
        try:
            self._db = self._open(self.path)
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc):
                self.recovered_from = self._quarantine(exc)
                self._prepare_file()
                self._db = self._open(self.path)
            else:
                self.unavailable = str(exc)
                log.warning("history database %s cannot be used now (%s); this session's "
                            "snips are kept in memory only", self.path, exc)
                self._db = self._open(":memory:")

    def _prepare_file(self) -> None:
        """Private directory, and the database created 0600 before SQLite creates it 0644
        (its -wal/-shm files copy the database's mode)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            log.warning("cannot create %s: %s", self.path, exc)
        for name in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            try:
                if stat.S_IMODE(name.stat().st_mode) & 0o077:
                    name.chmod(0o600)
            except OSError:
                pass

    def _open(self, target: Path | str) -> sqlite3.Connection:
        # The timeout is SQLite's busy timeout: a lock held by another process is waited for.
        db = sqlite3.connect(target, timeout=self.busy_timeout_s)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable up to the last commit
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise _IntegrityError("quick_check failed")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _quarantine(self, exc: Exception) -> Path:
        """Keep the broken file for forensics and start an empty history instead of crashing."""
        target = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        log.warning("history database %s is unreadable (%s); moved to %s", self.path, exc, target)
        self.path.replace(target)
        for suffix in ("-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        return target

    def close(self) -> None:
        self._db.close()

    def add(self, latex: str, confidence: float | None, png: bytes | None,
            created: float | None = None) -> int:
        with self._db:  # one transaction: insert + trim
            cur = self._db.execute(
                "INSERT INTO snips(created, latex, confidence, png) VALUES (?, ?, ?, ?)",
                (time.time() if created is None else created, latex, confidence, png),
            )
            self._trim()
        return int(cur.lastrowid)

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        with self._db:
            self._trim()

    def _trim(self) -> None:
        self._db.execute(
            "DELETE FROM snips WHERE id NOT IN (SELECT id FROM snips ORDER BY created DESC, id DESC LIMIT ?)",
            (self.limit,),
        )

    def update_latex(self, entry_id: int, latex: str) -> None:
        with self._db:
            self._db.execute("UPDATE snips SET latex = ? WHERE id = ?", (latex, entry_id))

    def delete(self, entry_id: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM snips WHERE id = ?", (entry_id,))

    def list(self, search: str = "", limit: int | None = None) -> list[HistoryEntry]:
        """Newest first, without images (cheap); ``search`` is a case-insensitive substring."""
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.execute(
            "SELECT id, created, latex, confidence FROM snips WHERE latex LIKE ? ESCAPE '\\' "
            "ORDER BY created DESC, id DESC LIMIT ?",
            (pattern, -1 if limit is None else limit),
        ).fetchall()
        return [HistoryEntry(*row) for row in rows]

    def get(self, entry_id: int) -> HistoryEntry | None:
        row = self._db.execute(
            "SELECT id, created, latex, confidence, png FROM snips WHERE id = ?", (entry_id,)
        ).fetchone()
        return HistoryEntry(*row) if row else None

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM snips").fetchone()[0])

"""Snip history in SQLite (WAL): one transaction per snip, so a crash never leaves half an entry.
See docs/adr/0003-history-storage.md for why not JSON + PNG files."""

from __future__ import annotations

import logging
import sqlite3
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


class History:
    def __init__(self, path: Path | None = None, limit: int = 500) -> None:
        self.path = path or data_dir() / "history.sqlite3"
        self.limit = limit
        self.recovered_from: Path | None = None  # set when a corrupt file was moved aside
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self.recovered_from = self._quarantine(exc)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable up to the last commit
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
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

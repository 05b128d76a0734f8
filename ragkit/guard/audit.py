"""The audit trail: every block, mask, hand-over, quarantine and warning the guard made.

Owns :class:`AuditLog`, a SQLite file beside the data it guards (``audit.sqlite`` in a
knowledge base's folder, owner-only), with one row per finding: time, conversation,
channel, category, rule, action and an excerpt that was redacted before it was written
(personal data never reaches this file in plain text). Records older than the retention
are deleted as new ones are written; :meth:`export` writes JSON Lines or CSV.

Does not decide anything (:mod:`ragkit.guard.guard`).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ragkit import pii
from ragkit.guard.guard import Verdict

FILE_NAME = "audit.sqlite"
COLUMNS = ("id", "at", "conversation", "channel", "category", "rule", "action", "excerpt")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    conversation TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    category TEXT NOT NULL,
    rule TEXT NOT NULL,
    action TEXT NOT NULL,
    excerpt TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
"""


class AuditLog:
    def __init__(self, path: Path, retention_days: int = 90) -> None:
        self.path = Path(path)
        self.retention_s = retention_days * 86400.0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None  # opened on first use: no file until then

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            pii.private_file(self.path)
            self._db = db
        return self._db

    @classmethod
    def for_dir(cls, directory: Path, retention_days: int = 90) -> AuditLog:
        return cls(Path(directory) / FILE_NAME, retention_days)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def record(self, verdict: Verdict, conversation: str = "") -> int:
        """One row per finding of ``verdict`` (none for a clean pass); returns how many."""
        if not verdict.findings:
            return 0
        now = time.time()
        rows = [(now, conversation, verdict.channel, f.category, f.rule[:200], f.action,
                 pii.redact(f.excerpt)[0][:200]) for f in verdict.findings]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT INTO events (at, conversation, channel, category, rule, action, "
                "excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._conn.execute("DELETE FROM events WHERE at < ?", (now - self.retention_s,))
        return len(rows)

    def events(self, *, since: float = 0.0, limit: int = 200,
               action: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM events WHERE at >= ?"
        args: list[Any] = [since]
        if action:
            sql += " AND action = ?"
            args.append(action)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [dict(zip(COLUMNS, r, strict=True)) for r in rows]

    def export(self, out: Path) -> int:
        """Every record, oldest first, as CSV (``.csv``) or JSON Lines (anything else)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY id").fetchall()
        out = Path(out)
        with out.open("w", encoding="utf-8", newline="") as f:
            if out.suffix.lower() == ".csv":
                w = csv.writer(f)
                w.writerow(COLUMNS)
                w.writerows(rows)
            else:
                for r in rows:
                    f.write(json.dumps(dict(zip(COLUMNS, r, strict=True)),
                                       ensure_ascii=False) + "\n")
        return len(rows)

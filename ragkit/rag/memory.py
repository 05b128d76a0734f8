"""Conversation persistence: LangGraph's SQLite checkpointer in ``KB_DIR/conversations.sqlite``
plus the retention rules that keep that file from growing without bound.

Owns: opening the checkpointer, a ``threads`` table (created, last used, turns) next to
LangGraph's own tables, keeping only the latest checkpoint of a thread after each turn (the
graph's state carries the whole history, so older checkpoints are redundant), and deleting
threads idle longer than ``max_thread_age_days`` or beyond the ``max_threads`` newest.
Does not own the graph or what its state contains.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from ragkit.errors import KnowledgeBaseError
from ragkit.pii import RedactingSerializer, private_file

FILE_NAME = "conversations.sqlite"


class ConversationStore:
    """Checkpoints of every conversation of one knowledge base, keyed by thread id."""

    def __init__(self, path: Path, max_threads: int, max_age_days: float) -> None:
        self.path = path
        self.max_threads = max_threads
        self.max_age_s = max_age_days * 86400.0
        try:
            self._conn = sqlite3.connect(str(private_file(path)), check_same_thread=False,
                                         timeout=30)
        except sqlite3.Error as e:
            raise KnowledgeBaseError(f"cannot open {path} ({e}); check that the knowledge base "
                                     "directory is writable") from None
        self.saver = SqliteSaver(self._conn, serde=RedactingSerializer())  # PII redacted
        self.saver.setup()
        with self.saver.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS threads (thread_id TEXT PRIMARY KEY, "
                        "created REAL NOT NULL, updated REAL NOT NULL, turns INTEGER NOT NULL)")

    @classmethod
    def for_kb(cls, kb_dir: Path, max_threads: int, max_age_days: float) -> ConversationStore:
        return cls(Path(kb_dir) / FILE_NAME, max_threads, max_age_days)

    def close(self) -> None:
        self._conn.close()

    # -- bookkeeping after a turn ------------------------------------------------------------
    def after_turn(self, thread_id: str, now: float | None = None) -> None:
        """Record activity, drop superseded checkpoints of the thread, enforce retention."""
        now = time.time() if now is None else now
        with self.saver.cursor() as cur:
            cur.execute(
                "INSERT INTO threads VALUES (?, ?, ?, 1) ON CONFLICT(thread_id) DO UPDATE SET "
                "updated = excluded.updated, turns = turns + 1", (thread_id, now, now))
            latest = cur.execute(
                "SELECT checkpoint_ns, max(checkpoint_id) FROM checkpoints WHERE thread_id = ? "
                "GROUP BY checkpoint_ns", (thread_id,)).fetchall()
            for ns, cid in latest:
                cur.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                            "AND checkpoint_id < ?", (thread_id, ns, cid))
                cur.execute("DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = ? "
                            "AND checkpoint_id < ?", (thread_id, ns, cid))
        self.enforce_retention(now)

    def enforce_retention(self, now: float | None = None) -> list[str]:
        """Delete expired and surplus threads; returns the deleted thread ids."""
        now = time.time() if now is None else now
        with self.saver.cursor() as cur:
            rows = cur.execute("SELECT thread_id, updated FROM threads "
                               "ORDER BY updated DESC, thread_id").fetchall()
        doomed = [t for i, (t, updated) in enumerate(rows)
                  if i >= self.max_threads or now - updated > self.max_age_s]
        for t in doomed:
            self.delete(t)
        return doomed

    # -- queries -----------------------------------------------------------------------------
    def threads(self) -> list[dict]:
        with self.saver.cursor(transaction=False) as cur:
            rows = cur.execute("SELECT thread_id, created, updated, turns FROM threads "
                               "ORDER BY updated DESC").fetchall()
        return [dict(zip(("thread_id", "created", "updated", "turns"), r, strict=True))
                for r in rows]

    def checkpoint_count(self, thread_id: str | None = None) -> int:
        sql = "SELECT count(*) FROM checkpoints"
        args: tuple = ()
        if thread_id is not None:
            sql, args = sql + " WHERE thread_id = ?", (thread_id,)
        with self.saver.cursor(transaction=False) as cur:
            return int(cur.execute(sql, args).fetchone()[0])

    def delete(self, thread_id: str) -> None:
        self.saver.delete_thread(thread_id)
        with self.saver.cursor() as cur:
            cur.execute("DELETE FROM threads WHERE thread_id = ?", (thread_id,))

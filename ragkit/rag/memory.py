"""Conversation persistence: LangGraph's SQLite checkpointer in ``KB_DIR/conversations.sqlite``
(or, for a knowledge base in PostgreSQL, LangGraph's Postgres checkpointer in the knowledge
base's own schema, so that every app process on that URL continues every conversation) plus
the retention rules that keep it from growing without bound.

Owns: opening the checkpointer, a ``threads`` table (created, last used, turns) next to
LangGraph's own tables, keeping only the latest checkpoint of a thread after each turn (the
graph's state carries the whole history, so older checkpoints are redundant), and deleting
threads idle longer than ``max_thread_age_days`` or beyond the ``max_threads`` newest.
Does not own the graph or what its state contains.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from ragkit.errors import KnowledgeBaseError
from ragkit.pii import RedactingSerializer, private_file

FILE_NAME = "conversations.sqlite"


def open_conversations(kb, max_threads: int, max_age_days: float) -> ConversationStore:
    """The conversation store of knowledge base ``kb``: beside its files, or in its
    Postgres schema when it lives in PostgreSQL."""
    from ragkit.pgstore import PgStore

    if isinstance(kb.store, PgStore):
        return PgConversationStore(kb.store.url, max_threads, max_age_days)
    return ConversationStore.for_kb(kb.dir, max_threads, max_age_days)


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
        rows = self.threads()  # newest first
        doomed = [r["thread_id"] for i, r in enumerate(rows)
                  if i >= self.max_threads or now - r["updated"] > self.max_age_s]
        for t in doomed:
            self.delete(t)
        return doomed

    # -- queries -----------------------------------------------------------------------------
    def threads(self) -> list[dict]:
        with self.saver.cursor(transaction=False) as cur:
            rows = cur.execute("SELECT thread_id, created, updated, turns FROM threads "
                               "ORDER BY updated DESC, thread_id").fetchall()
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


class PgConversationStore(ConversationStore):
    """The same store in PostgreSQL: LangGraph's ``PostgresSaver`` tables and a ``threads``
    table in the knowledge base's schema. The checkpointer and the bookkeeping each have a
    connection of their own."""

    WRITES = "checkpoint_writes"

    def __init__(self, url, max_threads: int, max_age_days: float) -> None:  # url: PgUrl
        from ragkit.pgstore import checkpointer

        self.path = url.shown
        self.max_threads = max_threads
        self.max_age_s = max_age_days * 86400.0
        self._turns = threading.Lock()
        self.saver, self._saver_conn, self._conn = checkpointer(
            url, url.schema, RedactingSerializer(),
            ["CREATE TABLE IF NOT EXISTS threads (thread_id TEXT PRIMARY KEY, created DOUBLE "
             "PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL, turns INTEGER NOT NULL)"])

    def close(self) -> None:
        self._saver_conn.close()
        self._conn.close()

    def after_turn(self, thread_id: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._turns, self._conn.transaction():  # one thread's bookkeeping at a time
            run = self._conn.execute
            run("INSERT INTO threads VALUES (%s, %s, %s, 1) ON CONFLICT (thread_id) DO UPDATE "
                "SET updated = EXCLUDED.updated, turns = threads.turns + 1",
                (thread_id, now, now))
            latest = run("SELECT checkpoint_ns, max(checkpoint_id) FROM checkpoints WHERE "
                         "thread_id = %s GROUP BY checkpoint_ns", (thread_id,)).fetchall()
            for ns, cid in latest:
                for table in ("checkpoints", self.WRITES):
                    run(f"DELETE FROM {table} WHERE thread_id = %s AND checkpoint_ns = %s "
                        "AND checkpoint_id < %s", (thread_id, ns, cid))
                # channel values no remaining checkpoint refers to
                run("DELETE FROM checkpoint_blobs b WHERE thread_id = %s AND checkpoint_ns = %s "
                    "AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.thread_id = "
                    "b.thread_id AND c.checkpoint_ns = b.checkpoint_ns AND "
                    "c.checkpoint -> 'channel_versions' ->> b.channel = b.version)",
                    (thread_id, ns))
        self.enforce_retention(now)

    def threads(self) -> list[dict]:
        rows = self._conn.execute("SELECT thread_id, created, updated, turns FROM threads "
                                  "ORDER BY updated DESC, thread_id").fetchall()
        return [dict(zip(("thread_id", "created", "updated", "turns"), r, strict=True))
                for r in rows]

    def checkpoint_count(self, thread_id: str | None = None) -> int:
        if thread_id is None:
            return int(self._conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0])
        return int(self._conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s",
                                      (thread_id,)).fetchone()[0])

    def delete(self, thread_id: str) -> None:
        self.saver.delete_thread(thread_id)
        self._conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))

"""The chat tab's list of conversations: what the sidebar shows and what resuming restores.

Owns :class:`ThreadIndex`, ``threads.sqlite`` in a knowledge base's folder (owner-only, like
the conversation checkpoints): one row per conversation with its title (the first question,
personal data replaced by placeholders, or what the user renamed it to), its mode (Q&A or
support), when it started and was last used, and the transcript as the page showed it. The
transcript holds whatever the customer typed (emails, order numbers), so it is stored sealed
with ragkit's PII key (:class:`ragkit.pii.Sealer`), never in the clear. Each write is one
transaction.

Does not own the conversations themselves: their state lives in the RAG and support
checkpointers (``ragkit.rag.memory``, ``ragkit.support``), which resuming continues by thread
id and deleting clears (``Backend.delete_thread``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from ragkit import pii
from ragkit.ui.format import message_text
from ragkit.ui.i18n import InputError

FILE = "threads.sqlite"
TITLE_CHARS = 60
MAX_TITLE = 120  # characters a renamed title may have


def clean_title(text: str, limit: int = TITLE_CHARS) -> str:
    """One line of at most ``limit`` characters, control characters dropped."""
    one = " ".join("".join(ch for ch in text if unicodedata.category(ch)[0] != "C"
                           or ch in " \t\n").split())
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "…"


def title_of(history: list[dict[str, Any]]) -> str:
    """A conversation's title: its first question, personal data redacted."""
    first = next((message_text(m) for m in history if m.get("role") == "user"), "")
    return clean_title(pii.redact(first)[0]) or "…"


def _said(message: dict[str, Any]) -> tuple[str, str]:
    """Who said what, whatever shape the page sent the message back in."""
    return str(message.get("role", "")), message_text(message)


class ThreadIndex:
    """The conversations of one knowledge base, newest first."""

    def __init__(self, folder: str | Path, sealer: pii.Sealer | None = None) -> None:
        self.path = pii.private_file(Path(folder) / FILE)
        self._sealer = sealer or pii.Sealer()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, title TEXT NOT NULL, "
            "renamed INTEGER NOT NULL DEFAULT 0, mode TEXT NOT NULL, created REAL NOT NULL, "
            "updated REAL NOT NULL, transcript TEXT NOT NULL)")

    def save(self, thread_id: str, mode: str, history: list[dict[str, Any]]) -> None:
        """Record the conversation as shown after a turn (a renamed title is kept)."""
        with self._lock:
            self._write(thread_id, mode, history)

    def _write(self, thread_id: str, mode: str, history: list[dict[str, Any]]) -> None:
        sealed = self._sealer.seal(json.dumps(history, ensure_ascii=False))
        now = time.time()
        self._conn.execute(
            "INSERT INTO threads (id, title, mode, created, updated, transcript) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, "
            "updated = excluded.updated, transcript = excluded.transcript, "
            "title = CASE WHEN threads.renamed THEN threads.title ELSE excluded.title END",
            (thread_id, title_of(history), mode, now, now, sealed))

    def save_turn(self, thread_id: str, mode: str, before: list[dict[str, Any]],
                  added: list[dict[str, Any]], *, replace: bool = False) -> None:
        """Record one turn: the ``added`` messages after ``before``, what the page showed when
        the turn began. Turns another page (a second tab) stored on the conversation
        meanwhile are kept and this one goes after them; ``replace`` (a regenerated answer)
        puts ``added`` in place of what followed ``before``."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")  # read and write as one, across processes
            try:
                row = self._conn.execute("SELECT transcript FROM threads WHERE id = ?",
                                         (thread_id,)).fetchone()
                stored: list[dict[str, Any]] = []
                if row is not None and (text := self._sealer.unseal(row[0])) != pii.REDACTED:
                    stored = json.loads(text)
                same = [_said(m) for m in stored[: len(before)]] == [_said(m) for m in before]
                base = before if not stored or (replace and same) else stored
                self._write(thread_id, mode, [*base, *added])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def list(self, limit: int = 200) -> list[dict[str, Any]]:
        """``{"id", "title", "mode", "created", "updated"}`` per conversation, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, title, mode, created, updated FROM threads "
                "ORDER BY updated DESC, id LIMIT ?", (limit,)).fetchall()
        return [dict(zip(("id", "title", "mode", "created", "updated"), r, strict=True))
                for r in rows]

    def load(self, thread_id: str) -> tuple[str, list[dict[str, Any]]]:
        """(mode, transcript as shown) of a conversation."""
        with self._lock:
            row = self._conn.execute("SELECT mode, transcript FROM threads WHERE id = ?",
                                     (thread_id,)).fetchone()
        if row is None:
            raise InputError("thread_unknown")
        text = self._sealer.unseal(row[1])
        # sealed with another PII key: the list keeps it, the messages cannot be shown
        return row[0], [] if text == pii.REDACTED else json.loads(text)

    def rename(self, thread_id: str, title: str) -> str:
        new = clean_title(title, MAX_TITLE)
        if not new:
            raise InputError("thread_title_empty")
        with self._lock:
            cur = self._conn.execute("UPDATE threads SET title = ?, renamed = 1 WHERE id = ?",
                                     (new, thread_id))
        if cur.rowcount == 0:
            raise InputError("thread_unknown")
        return new

    def delete(self, thread_id: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM threads WHERE id = ?", (thread_id,))

    def close(self) -> None:
        self._conn.close()
